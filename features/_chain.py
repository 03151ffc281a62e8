"""Compiled bookkeeping for the simulator's exact ground truth (see ``features.simulate.truth``).

Kept apart so that numba compiles only this loop; every probability it uses was
computed by the simulator's own transition functions.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def propagate(idx, market0, stage0, demo0, eligible_from, w, fractions, enter, exit_p,
              up, down, deal, demo, up_class, deal_class, demo_class):  # pragma: no cover - compiled
    out = np.zeros(len(idx))
    mass = np.zeros((2, 4, 2))
    after_market = np.zeros((2, 4, 2))
    moved = np.zeros((2, 4, 2))
    for i in range(len(idx)):
        lead = idx[i]
        mass[:] = 0.0
        mass[market0[i], stage0[i], demo0[i]] = 1.0
        opened = 0.0
        e = enter[lead]
        for j in range(len(fractions)):
            k = w + j
            for s in range(4):
                for d in range(2):
                    after_market[0, s, d] = mass[0, s, d] * (1.0 - e) + mass[1, s, d] * exit_p
                    after_market[1, s, d] = mass[0, s, d] * e + mass[1, s, d] * (1.0 - exit_p)
            moved[:] = 0.0
            cu = up_class[k]
            for a in range(2):
                for s in range(4):
                    u = up[cu, lead, a, s]
                    dn = down[cu, lead, a, s]
                    for d in range(2):
                        x = after_market[a, s, d]
                        moved[a, s, d] += x * (1.0 - u - dn)
                        if s < 3:
                            moved[a, s + 1, d] += x * u
                        if s > 0:
                            moved[a, s - 1, d] += x * dn
            eligible = k >= eligible_from[i]
            cd = deal_class[k]
            cm = demo_class[k]
            mass[:] = 0.0
            for a in range(2):
                for s in range(4):
                    dp = demo[cm, lead, s]
                    for d in range(2):
                        x = moved[a, s, d]
                        q = deal[cd, lead, s, d] if eligible else 0.0
                        opened += x * q * fractions[j]
                        left = x * (1.0 - q)
                        mass[a, s, 1] += left * dp
                        mass[a, s, 0] += left * (1.0 - dp)
        out[i] = opened
    return out
