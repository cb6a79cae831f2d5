"""The features of a pair of adjacent regions that the learned merge order scores.

All come from running sums, so merged regions update exactly: colour (CIELAB mean)
distance, code (mean ITQ projection) distance, mean border strength, L difference, the
smaller and larger within-region colour spread, both areas relative to the mean region
area at this count, the log border length, the border length over the square root of the
smaller area, and log count (the stage of the merging).
"""

from __future__ import annotations

import numpy as np

__all__ = ["PAIR_FEATURES", "assemble_pair_features", "colour_spread", "pair_features"]


PAIR_FEATURES = ("colour", "code", "border", "lightness", "spread_min", "spread_max",
                 "relative_area_min", "relative_area_max", "log_border_length", "contact",
                 "log_count")


def pair_features(vectors_a, vectors_b, area_a, area_b, length, strength, count, total_area,
                  n_code):
    """(m, len(PAIR_FEATURES)) features of m adjacent region pairs.

    Args:
        vectors_a, vectors_b: (m, 3 + n_code + 3) rows of [mean CIELAB colour | mean code
            | mean of the squared CIELAB colour] of the two regions.
        area_a, area_b: (m,) pixel counts.
        length, strength: (m,) border length (4-neighbour pixel pairs) and summed border
            strength.
        count: the number of regions left (the stage of the merging).
        total_area: pixels in the image.
        n_code: length of the code vectors.
    """
    vectors_a = np.asarray(vectors_a, dtype=np.float64)
    vectors_b = np.asarray(vectors_b, dtype=np.float64)
    return assemble_pair_features(vectors_a[:, :3 + n_code] - vectors_b[:, :3 + n_code],
                                  colour_spread(vectors_a, n_code), colour_spread(vectors_b, n_code),
                                  np.log(area_a), np.log(area_b), length, strength, count,
                                  total_area)


def colour_spread(vectors, n_code):
    """Within-region colour spread of rows [colour (3) | code | colour squares (3)]:
    sqrt of the mean over channels of E[c^2] - E[c]^2."""
    means, squares = vectors[:, :3], vectors[:, 3 + n_code:]
    return np.sqrt(np.maximum(np.mean(squares - means * means, axis=1), 0.0))


def assemble_pair_features(difference, spread_a, spread_b, log_area_a, log_area_b, length,
                           strength, count, total_area):
    """`pair_features` from its parts (the merge loop keeps the spreads and log areas per
    region): ``difference`` (m, 3 + n_code) of the colour and code means."""
    m = len(difference)
    out = np.empty((m, len(PAIR_FEATURES)))
    colour = difference[:, :3]
    np.sqrt(np.einsum("ij,ij->i", colour, colour), out=out[:, 0])
    code = difference[:, 3:]
    np.sqrt(np.einsum("ij,ij->i", code, code), out=out[:, 1])
    length = np.maximum(length, 1.0)
    np.divide(strength, length, out=out[:, 2])
    np.abs(difference[:, 0], out=out[:, 3])
    np.minimum(spread_a, spread_b, out=out[:, 4])
    np.maximum(spread_a, spread_b, out=out[:, 5])
    log_mean_area = np.log(total_area / count)
    np.subtract(np.minimum(log_area_a, log_area_b), log_mean_area, out=out[:, 6])
    np.subtract(np.maximum(log_area_a, log_area_b), log_mean_area, out=out[:, 7])
    np.log(length, out=out[:, 8])
    np.divide(length, np.exp(0.5 * (out[:, 6] + log_mean_area)), out=out[:, 9])
    out[:, 10] = np.log(count)
    return out
