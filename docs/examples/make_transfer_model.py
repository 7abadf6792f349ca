"""The transfer-learning model of the course (TensorFlow's "Transfer learning with a
pretrained ConvNet" tutorial, 160x160 images): a frozen MobileNetV2 base, data
augmentation, preprocess_input, a new head. Run in a venv with Keras 3 to regenerate
transfer_mobilenetv2.json (the architecture only; counting needs nothing more) and print
what model.summary() says of it:

    python docs/examples/make_transfer_model.py
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
from keras import layers

IMG_SHAPE = (160, 160, 3)
augmentation = keras.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.2)],
                                name="data_augmentation")
base = keras.applications.MobileNetV2(input_shape=IMG_SHAPE, include_top=False, weights=None)
base.trainable = False
inputs = keras.Input(shape=IMG_SHAPE)
x = augmentation(inputs)
x = keras.applications.mobilenet_v2.preprocess_input(x)
x = base(x, training=False)
x = layers.GlobalAveragePooling2D()(x)
x = layers.Dropout(0.2)(x)
outputs = layers.Dense(1)(x)
model = keras.Model(inputs, outputs, name="transfer_mobilenetv2")
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "transfer_mobilenetv2.json"), "w") as fh:
    fh.write(model.to_json())
model.summary()
