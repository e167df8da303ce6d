"""Loaders of the datasets the user downloads (Shapes3D, MPI3D, smallNORB, Cars3D): one module each.

Each turns the official files into a :class:`~bvae_tf.data.ground_truth.GroundTruthData` with
random access to uint8 images by index, reading in bounded chunks (never the whole set, never
as floats); formats, factor orders and where to put the files: docs/datasets.md.
"""
