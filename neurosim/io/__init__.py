"""Every file format; the only package that imports h5py."""
