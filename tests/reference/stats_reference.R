# Prints the R reference values embedded in tests/unit/stats_*_test.cpp.
#   Rscript tests/reference/stats_reference.R
# Each line: name value (17 significant digits). The generated data sets are built from exact
# binary fractions, so R, Python and C++ hold the same doubles (see park_miller below and
# its twin in tests/unit/stats_test_data.hpp).

out <- function(name, value) {
  for (i in seq_along(value)) {
    label <- if (length(value) > 1) sprintf("%s[%d]", name, i - 1) else name
    cat(label, sprintf("%.17g", value[i]), "\n")
  }
}

# Park-Miller minimal standard generator: s <- 16807 s mod (2^31 - 1), exact in doubles.
park_miller <- function(seed, n) {
  s <- seed
  values <- numeric(n)
  for (i in seq_len(n)) {
    s <- (16807 * s) %% 2147483647
    values[i] <- s
  }
  values
}
# Roughly normal: centre + scale * (sum of 12 uniform 20-bit integers - 6 * 2^20) / 2^20.
normalish <- function(seed, n, centre, scale) {
  u <- park_miller(seed, 12 * n) %% 1048576
  z <- (colSums(matrix(u, nrow = 12)) - 6 * 1048576) / 1048576
  centre + scale * z
}
# Right-skewed: centre + scale * u^2, u uniform on [0, 1) with 20 bits.
skewed <- function(seed, n, centre, scale) {
  u <- (park_miller(seed, n) %% 1048576) / 1048576
  centre + scale * u * u
}
# Ties: values rounded down to a multiple of 1/4.
quartered <- function(v) floor(v * 4) / 4

# ---- describe, quantiles, ranks ----
d1 <- c(12.1, 15.3, 11.8, 14.2, 13.9, 40.0, 12.7, 13.3, 12.9, 14.8)
out("d1.mean", mean(d1)); out("d1.sd", sd(d1)); out("d1.q", quantile(d1, c(0.25, 0.5, 0.75), type = 7))
out("d1.iqr", IQR(d1))
d2 <- c(-3, -3, 0, 2, 2, 2, 7, -20)
out("d2.mean", mean(d2)); out("d2.sd", sd(d2)); out("d2.q", quantile(d2, c(0.25, 0.5, 0.75), type = 7))
out("d2.quantiles", quantile(d2, c(0, 0.1, 0.33, 0.9, 1), type = 7))
d3 <- c(1e9 + 0.1, 1e9 + 0.2, 1e9 + 0.3, 1e9 + 0.4)
out("d3.mean", mean(d3)); out("d3.sd", sd(d3))
out("ranks", rank(c(3.5, 1, 2, 3.5, 3.5, -1, 10, 2), ties.method = "average"))
d4 <- normalish(1, 200, 1000, 50)
out("d4.mean", mean(d4)); out("d4.sd", sd(d4)); out("d4.q", quantile(d4, c(0.25, 0.5, 0.75), type = 7))

# ---- Shapiro-Wilk: shapiro.test(x) ----
sw <- list(
  sw3 = c(1, 2, 4),
  sw4 = c(2.1, 3.4, 1.9, 5.6),
  sw5 = c(148, 154, 158, 160, 161),
  sw7 = c(1.0, 2.5, 3.1, 4.7, 5.0, 7.2, 9.9),
  sw11 = c(0.5, 0.7, 0.9, 1.1, 1.2, 1.9, 2.5, 3.8, 6.1, 9.7, 15.2),
  sw_ties = c(1, 1, 2, 2, 2, 3, 3, 4, 5, 8, 13, 21),
  sw_offset = 1e6 + c(0.125, 0.5, 0.25, 0.75, 1.5, 0.375, 2.25, 0.625),
  sw20 = normalish(11, 20, 0, 1),
  sw100_skewed = skewed(12, 100, 0, 1),
  sw5000 = normalish(13, 5000, 1000, 50),
  sw5000_skewed = skewed(14, 5000, 0, 1)
)
for (name in names(sw)) {
  r <- shapiro.test(sw[[name]])
  out(paste0(name, ".w"), r$statistic); out(paste0(name, ".p"), r$p.value)
}

# ---- Mann-Whitney: wilcox.test(x, y, alternative, exact, correct = TRUE) ----
mw <- function(name, x, y) {
  for (alt in c("two.sided", "less", "greater")) {
    # joulebench computes the exact distribution up to n1 * n2 = 10000
    if (!any(duplicated(c(x, y))) && length(x) * length(y) <= 10000) {
      r <- wilcox.test(x, y, alternative = alt, exact = TRUE)
      out(sprintf("%s.exact.%s.p", name, alt), r$p.value)
    }
    r <- suppressWarnings(wilcox.test(x, y, alternative = alt, exact = FALSE, correct = TRUE))
    out(sprintf("%s.normal.%s.p", name, alt), r$p.value)
  }
  out(paste0(name, ".u"), wilcox.test(x, y, exact = FALSE)$statistic)
}
mw("mw_ab", c(0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46), c(1.15, 0.88, 0.90, 0.74, 1.21))
mw("mw_ties", c(1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30), c(0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29))
mw("mw_1x1", c(1), c(2))
mw("mw_2x1", c(1, 3), c(2))
mw("mw_3x3", c(1, 2, 3), c(4, 5, 6))
mw("mw_cross_tie", c(1, 2, 3), c(3, 4, 5))
mw("mw_40x45", normalish(20, 40, 100, 10), normalish(21, 45, 103, 10))
mw("mw_50x50", normalish(22, 50, 100, 10), normalish(23, 50, 104, 10))
mw("mw_separated", 51:100, 1:50)
mw("mw_100", normalish(26, 100, 100, 10), normalish(27, 100, 103, 10))
mw("mw_200", normalish(24, 200, 100, 10), normalish(25, 200, 102, 10))
mw("mw_200_ties", quartered(normalish(24, 200, 10, 1)), quartered(normalish(25, 200, 10.2, 1)))
# R's automatic choice (exact below 50 per sample without ties), for the record.
out("mw_40x45.auto.p", wilcox.test(normalish(20, 40, 100, 10), normalish(21, 45, 103, 10))$p.value)

# ---- Welch: t.test(x, y, alternative, var.equal = FALSE) ----
welch <- function(name, x, y) {
  for (alt in c("two.sided", "less", "greater")) {
    r <- t.test(x, y, alternative = alt, var.equal = FALSE)
    out(sprintf("%s.%s.p", name, alt), r$p.value)
  }
  r <- t.test(x, y, var.equal = FALSE)
  out(paste0(name, ".t"), r$statistic); out(paste0(name, ".df"), r$parameter)
}
welch("welch_small", c(19.1, 21.4, 18.7, 22.0, 20.3, 19.9), c(23.5, 24.1, 22.8, 25.9, 23.3, 24.4, 26.0, 22.1))
welch("welch_2x2", c(1, 2), c(3, 5))
welch("welch_const_x", c(5, 5, 5), c(1, 2, 3.5))
welch("welch_200", normalish(30, 200, 1000, 50), normalish(31, 150, 1012, 80))

# ---- Kruskal-Wallis: kruskal.test(groups) ----
kw <- function(name, groups) {
  r <- kruskal.test(groups)
  out(paste0(name, ".h"), r$statistic); out(paste0(name, ".df"), r$parameter); out(paste0(name, ".p"), r$p.value)
}
kw("kw_hw", list(c(2.9, 3.0, 2.5, 2.6, 3.2), c(3.8, 2.7, 4.0, 2.4), c(2.8, 3.4, 3.7, 2.2, 2.0)))
kw("kw_ties", list(c(1, 2, 2, 3), c(2, 3, 3, 4, 4), c(1, 1, 5)))
kw("kw_singletons", list(1, 3, 2, 2))
kw("kw_two", list(c(1.5, 2.5), c(3.5, 4.5, 5.5)))
kw("kw_large", list(quartered(normalish(40, 200, 10, 1)), quartered(normalish(41, 180, 10.3, 1)),
                    quartered(normalish(42, 220, 9.9, 1))))

# ---- Spearman's rho (the p-value is SciPy's, from the t distribution; see the Python script) ----
out("sp_ties.rho", cor(c(1, 2, 2, 3, 4, 4, 4, 6), c(2, 1, 3, 3, 5, 4, 6, 6), method = "spearman"))
out("sp3.rho", cor(c(1, 2, 3), c(1, 3, 2), method = "spearman"))

# ---- Effect sizes from their definitions, over all pairs ----
a12 <- function(x, y) mean(outer(x, y, ">")) + 0.5 * mean(outer(x, y, "=="))
cliff <- function(x, y) mean(sign(outer(x, y, "-")))
ex <- c(10, 12, 12, 15, 9, 11, 14); ey <- c(8, 12, 9, 10, 10, 13)
out("a12_ties", a12(ex, ey)); out("cliff_ties", cliff(ex, ey))
ex2 <- normalish(50, 200, 100, 10); ey2 <- quartered(normalish(51, 300, 98, 10))
out("a12_large", a12(ex2, ey2)); out("cliff_large", cliff(ex2, ey2))

# ---- p.adjust ----
p <- c(0.04, 0.01, 0.03, 0.005, 0.2, 0.04, 0.5)
out("holm", p.adjust(p, "holm")); out("bonferroni", p.adjust(p, "bonferroni"))
pna <- c(0.02, NaN, 0.01, 0.3)
out("holm_nan", p.adjust(pna, "holm")); out("bonferroni_nan", p.adjust(pna, "bonferroni"))
out("holm_one", p.adjust(0.3, "holm"))
