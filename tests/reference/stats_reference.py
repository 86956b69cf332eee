#!/usr/bin/python3
"""Prints the SciPy reference values embedded in tests/unit/stats_*_test.cpp.

    /usr/bin/python3 tests/reference/stats_reference.py     (SciPy 1.10, NumPy 1.24: Debian 12)

Each line: name value (17 significant digits). The data generators are twins of those in
stats_reference.R and tests/unit/stats_test_data.hpp: exact binary fractions, the same doubles in
every language.

The bootstrap section re-implements joulebench's defined random stream (xoshiro256** seeded by
splitmix64, Lemire's bounded integers) and its resampling order, then hands the resampled ratios
to SciPy's own BCa code (scipy.stats._resampling._bca_interval) and np.percentile: the intervals
joulebench must reproduce to rounding. It also prints scipy.stats.bootstrap's intervals (SciPy's
own random stream), which joulebench can match only within Monte-Carlo error.
"""
import numpy as np
from scipy import stats
from scipy.stats import _resampling

M64 = (1 << 64) - 1


def out(name, value):
    values = np.atleast_1d(value)
    for i, v in enumerate(values):
        label = f"{name}[{i}]" if len(values) > 1 else name
        print(label, repr(float(v)) if not np.isfinite(v) else f"{float(v):.17g}")


def park_miller(seed, n):
    s, values = seed, []
    for _ in range(n):
        s = (16807 * s) % 2147483647
        values.append(s)
    return values


def normalish(seed, n, centre, scale):
    u = [v % 1048576 for v in park_miller(seed, 12 * n)]
    return np.array([centre + scale * ((sum(u[12 * i:12 * i + 12]) - 6 * 1048576) / 1048576) for i in range(n)])


def skewed(seed, n, centre, scale):
    u = [(v % 1048576) / 1048576 for v in park_miller(seed, n)]
    return np.array([centre + scale * v * v for v in u])


def quartered(v):
    return np.floor(v * 4) / 4


# ---- Mann-Whitney: stats.mannwhitneyu(x, y, alternative=..., method='exact' | 'asymptotic') ----
def mw(name, x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    ties = len(np.unique(np.concatenate([x, y]))) < len(x) + len(y)
    for alt in ["two-sided", "less", "greater"]:
        if not ties:
            out(f"{name}.exact.{alt}.p", stats.mannwhitneyu(x, y, alternative=alt, method="exact").pvalue)
        out(f"{name}.asymptotic.{alt}.p", stats.mannwhitneyu(x, y, alternative=alt, method="asymptotic").pvalue)
    out(f"{name}.u", stats.mannwhitneyu(x, y).statistic)


mw("mw_ab", [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46], [1.15, 0.88, 0.90, 0.74, 1.21])
mw("mw_ties", [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30],
   [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29])
mw("mw_3x3", [1, 2, 3], [4, 5, 6])
mw("mw_50x50", normalish(22, 50, 100, 10), normalish(23, 50, 104, 10))
mw("mw_separated", np.arange(51, 101), np.arange(1, 51))
mw("mw_100", normalish(26, 100, 100, 10), normalish(27, 100, 103, 10))
mw("mw_200_ties", quartered(normalish(24, 200, 10, 1)), quartered(normalish(25, 200, 10.2, 1)))

# ---- Welch: stats.ttest_ind(x, y, equal_var=False, alternative=...) ----
def welch(name, x, y):
    for alt in ["two-sided", "less", "greater"]:
        out(f"{name}.{alt}.p", stats.ttest_ind(x, y, equal_var=False, alternative=alt).pvalue)
    out(f"{name}.t", stats.ttest_ind(x, y, equal_var=False).statistic)


welch("welch_small", [19.1, 21.4, 18.7, 22.0, 20.3, 19.9], [23.5, 24.1, 22.8, 25.9, 23.3, 24.4, 26.0, 22.1])
welch("welch_200", normalish(30, 200, 1000, 50), normalish(31, 150, 1012, 80))

# ---- Kruskal-Wallis: stats.kruskal(*groups) ----
def kw(name, groups):
    r = stats.kruskal(*groups)
    out(f"{name}.h", r.statistic)
    out(f"{name}.p", r.pvalue)


kw("kw_ties", [[1, 2, 2, 3], [2, 3, 3, 4, 4], [1, 1, 5]])
kw("kw_large", [quartered(normalish(40, 200, 10, 1)), quartered(normalish(41, 180, 10.3, 1)),
                quartered(normalish(42, 220, 9.9, 1))])

# ---- Spearman: stats.spearmanr(x, y) (p from t with n - 2 degrees of freedom) ----
def sp(name, x, y):
    r = stats.spearmanr(x, y)
    out(f"{name}.rho", r.correlation)
    out(f"{name}.p", r.pvalue)


sp("sp_ties", [1, 2, 2, 3, 4, 4, 4, 6], [2, 1, 3, 3, 5, 4, 6, 6])
sp("sp3", [1, 2, 3], [1, 3, 2])
sp("sp_200", quartered(normalish(70, 200, 10, 1)), quartered(normalish(70, 200, 10, 1) * 0.3 + normalish(71, 200, 7, 1)))
sp("sp_perfect", [1, 2, 3, 4, 5], [2, 4, 8, 16, 32])

# ---- Shapiro-Wilk: stats.shapiro(x) (SciPy's swilk.f works in single precision) ----
for name, data in [("sw7", [1.0, 2.5, 3.1, 4.7, 5.0, 7.2, 9.9]), ("sw20", normalish(11, 20, 0, 1))]:
    r = stats.shapiro(data)
    out(f"{name}.w", r.statistic)
    out(f"{name}.p", r.pvalue)


# ---- The bootstrap's random stream ----
class Xoshiro:
    def __init__(self, seed):
        self.s = []
        state = seed
        for _ in range(4):
            state = (state + 0x9E3779B97F4A7C15) & M64
            z = state
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))

    def next(self):
        s = self.s
        rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & M64
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def below(self, n):
        product = self.next() * n
        low = product & M64
        if low < n:
            threshold = ((1 << 64) - n) % n
            while low < threshold:
                product = self.next() * n
                low = product & M64
        return product >> 64


r = Xoshiro(42)
print("xoshiro42.first5", " ".join(str(r.next()) for _ in range(5)))
r = Xoshiro(7)
print("xoshiro7.below10", " ".join(str(r.below(10)) for _ in range(20)))
r = Xoshiro(7)
print("xoshiro7.below_3e18", " ".join(str(r.below(3 * 10**18)) for _ in range(5)))


def seq_mean(v):
    total = 0.0
    for value in v:
        total += value
    return total / len(v)


def np_median(v):
    return float(np.median(v))


def replicate(name, x, y, ratio_of, method, resamples, seed, confidence=0.95):
    """joulebench's procedure, step by step, with SciPy's BCa and percentile code at the end."""
    xs, ys = np.sort(np.asarray(x, float)), np.sort(np.asarray(y, float))
    stat = seq_mean if ratio_of == "mean" else np_median
    rng = Xoshiro(seed)
    ratios = []
    for _ in range(resamples):
        rx = [xs[rng.below(len(xs))] for _ in range(len(xs))]
        ry = [ys[rng.below(len(ys))] for _ in range(len(ys))]
        ratios.append(stat(rx) / stat(ry))
    ratios = np.array(ratios)
    alpha = (1 - confidence) / 2
    if method == "percentile":
        interval = (alpha, 1 - alpha)
    else:
        npstat = np.mean if ratio_of == "mean" else np.median
        statistic = lambda a, b, axis=-1: npstat(a, axis=axis) / npstat(b, axis=axis)
        a1, a2, _ = _resampling._bca_interval((xs, ys), statistic, axis=-1, alpha=alpha,
                                              theta_hat_b=ratios, batch=None)
        interval = (a1, a2)
    out(f"{name}.estimate", stat(xs) / stat(ys))
    out(f"{name}.lower", np.percentile(ratios, interval[0] * 100))
    out(f"{name}.upper", np.percentile(ratios, interval[1] * 100))


bx = normalish(60, 25, 100, 15)
by = skewed(61, 30, 70, 30)
replicate("boot_mean_bca", bx, by, "mean", "bca", 2000, 42)
replicate("boot_median_bca", bx, by, "median", "bca", 2000, 42)
replicate("boot_mean_percentile", bx, by, "mean", "percentile", 2000, 42, confidence=0.9)
replicate("boot_median_percentile", bx, by, "median", "percentile", 2000, 42)
replicate("boot_mean_bca_seed7", bx, by, "mean", "bca", 2000, 7)
replicate("boot_even_odd_median_bca", normalish(62, 10, 50, 5), skewed(63, 11, 40, 20), "median", "bca", 1000, 3)

# scipy.stats.bootstrap with its own random stream: agreement only within Monte-Carlo error.
mx = normalish(64, 60, 100, 15)
my = skewed(65, 80, 70, 30)
for ratio_of in ["mean", "median"]:
    npstat = np.mean if ratio_of == "mean" else np.median
    for method in ["BCa", "percentile"]:
        r = stats.bootstrap((mx, my), lambda a, b, axis=-1: npstat(a, axis=axis) / npstat(b, axis=axis),
                            vectorized=True, paired=False, n_resamples=200000, method=method,
                            random_state=np.random.default_rng(1))
        out(f"scipy_boot_{ratio_of}_{method}.lower", r.confidence_interval.low)
        out(f"scipy_boot_{ratio_of}_{method}.upper", r.confidence_interval.high)
