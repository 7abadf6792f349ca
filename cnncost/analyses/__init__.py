"""Analyses over reports: compare, sweep, what-if, check, explain, roofline."""
