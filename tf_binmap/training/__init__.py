"""Fitting what the segmentation learns from annotated images: the merge order
(`merge_pairs`, `merge_fit`). ITQ is fitted by `tf_binmap.hashing` (``adapt``,
``fit_itq``)."""
