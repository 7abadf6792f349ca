"""torch.export archives (.pt2), counted: interop/pt2/reader.py."""
