// Replication: a published study's raw measurements read into a store, and a campaign put beside a
// reference one, metric by metric: does the new campaign find what the reference found?
// (docs/replication.md).
#pragma once

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "joulebench/analysis.hpp"
#include "joulebench/result.hpp"
#include "joulebench/store.hpp"

namespace joulebench {

/// Reads the raw measurements of the ICSE 2022 study (Georgiou et al., "Green AI: do deep learning
/// frameworks have different costs?"; its artifact is stefanos1316/ICSE_2022_artifact) into a new
/// campaign: every run of `DIR/data/measurements_train` and `DIR/data/measurements_inference` (DIR
/// may also be the data folder, or a folder holding those two), one run per pair of
/// `<model>_<Framework>_perf_<rep>.txt` (perf stat: CPU package and DRAM energy, elapsed time) and
/// `<model>_<Framework>_nvidia_smi_<rep>.txt` (nvidia-smi's power samples, one a second).
///
/// - Labels as joulebench's plans spell them: framework pytorch/tensorflow, phase train/infer,
///   model ncf, transformer-xl, gnmt, resnet50, mask-rcnn, ssd; the study's own spellings are kept
///   in the run's metadata (study_framework, study_model, study_phase), with the files read.
/// - cpu and dram energy are perf's RAPL counters (method counter, source "perf-stat"); gpu energy
///   is what the study computed: the plain sum of the power samples, each taken as one second
///   (method "sample-sum", source "nvidia-smi"); the total is their sum.
/// Every malformed file or line is reported with its path and line number, and nothing is imported
/// (ImportError); the same data twice is refused.
ImportResult import_icse2022(Store& store, const std::filesystem::path& dir, const ImportOptions& options = {});

}  // namespace joulebench

// --- Putting a campaign beside a reference one --------------------------------------------------

namespace joulebench {

/// A label's value as the reference spells it, and as the campaign does: `--map KEY=FROM:TO`.
struct LabelMapping {
  std::string key;
  std::string from;  ///< the reference's spelling
  std::string to;    ///< the campaign's
};
/// "framework=PyTorch:pytorch". Throws std::invalid_argument saying what the form is.
LabelMapping parse_label_mapping(std::string_view text);
/// Renames the label values of `runs` as `mappings` say ("workload" renames the workload).
void apply_label_mappings(std::vector<RunRecord>& runs, std::span<const LabelMapping> mappings);

/// One campaign's ratio of two sides on one metric in one group, oriented the same way in both
/// campaigns: `second` / `first` in name order.
struct OrientedRatio {
  stats::RatioInterval ratio;  ///< second / first, with its bootstrap interval
  std::string cheaper;         ///< the side with the lower mean (empty: equal means)
  bool significant = false;    ///< the campaign's own test, after its correction
  std::optional<double> p_adjusted;
  std::size_t first_runs = 0;
  std::size_t second_runs = 0;
};

/// One metric of one group and pair of sides in both campaigns.
struct ReplicationRow {
  KeyValues group;
  MetricColumn metric;
  std::string first;  ///< the sides, in name order
  std::string second;
  std::optional<OrientedRatio> current;
  std::optional<OrientedRatio> reference;
  std::string problem;  ///< why it is not compared (a side or metric missing in one campaign)
  // Where both campaigns have the ratio:
  bool direction_agrees = false;     ///< the same side is cheaper
  bool significance_agrees = false;  ///< both significant the same way, or neither significant
  bool intervals_overlap = false;
  std::optional<double> ratio_of_ratios;  ///< current / reference

  bool compared() const { return current && reference; }
};

struct ReplicationComparison {
  CompareOptions options;  ///< the same for both campaigns (group_by resolved)
  std::vector<ReplicationRow> rows;
  std::size_t compared = 0;  ///< rows with both ratios
  std::size_t direction_agrees = 0;
  std::size_t significance_agrees = 0;
  std::size_t intervals_overlap = 0;
  std::size_t current_runs = 0;
  std::size_t reference_runs = 0;
  std::vector<std::string> notes;  ///< both tables' notes, each saying which campaign
};

/// Compares each campaign's sides as compare_runs does, with the same options, and puts the two
/// tables side by side, matching groups, sides and metrics by name (map the reference's labels
/// first). Throws std::invalid_argument for options that cannot work on either campaign.
ReplicationComparison compare_with_reference(std::span<const RunRecord> current, std::span<const RunRecord> reference,
                                             CompareOptions options);

}  // namespace joulebench
