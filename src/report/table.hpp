// The one table writer: a table of cells written as CSV, Markdown, LaTeX (booktabs) or JSON rows,
// every text cell escaped by escape.hpp's function for the format. Every table joulebench writes
// in those formats goes through it; terminal layouts (side-by-side columns, aligned blocks) are
// drawn by their reporters.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "joulebench/json_output.hpp"

namespace joulebench::report_detail {

/// One cell: text (escaped as each format needs), a number or flag (written as it is), LaTeX or
/// Markdown markup already made for that format, or nothing.
class TableCell {
 public:
  TableCell() = default;
  static TableCell text(std::string text);
  /// The shortest text that reads back as the same double; empty when not finite.
  static TableCell number(double value);
  static TableCell number(const std::optional<double>& value);
  static TableCell integer(long long value);
  static TableCell flag(bool value);
  /// A number already formatted ("1.23", "-"), written as it is in every format.
  static TableCell formatted(std::string text);
  /// Markup for LaTeX ($1 \pm 2$); other formats write `plain`.
  static TableCell latex(std::string markup, std::string plain);

  bool empty() const { return kind_ == Kind::empty; }

 private:
  friend class Table;
  enum class Kind { empty, text, number, integer, flag, formatted, latex };
  Kind kind_ = Kind::empty;
  std::string text_;       ///< what every format writes (escaped where text)
  std::string latex_;      ///< Kind::latex: what LaTeX writes
  double value_ = 0;       ///< Kind::number, for JSON
  long long integer_ = 0;  ///< Kind::integer, for JSON
  bool flag_ = false;
};

enum class ColumnAlign { left, right };

struct TableColumn {
  std::string name;
  ColumnAlign align = ColumnAlign::left;
  std::string latex_name;  ///< the header in LaTeX, markup allowed; empty: the name, escaped
};

class Table {
 public:
  explicit Table(std::vector<TableColumn> columns);
  /// Throws std::logic_error when the row does not have one cell per column.
  void add_row(std::vector<TableCell> row);
  const std::vector<TableColumn>& columns() const { return columns_; }
  std::size_t rows() const { return rows_.size(); }

  /// A header line and a line per row (RFC 4180, "\n" line ends). With `guard_formulas`, text a
  /// spreadsheet would run as a formula gets a leading ' (escape.hpp).
  std::string csv(bool guard_formulas = true) const;
  /// A pipe table with its alignment row.
  std::string markdown() const;
  /// A booktabs tabular (needs \usepackage{booktabs}).
  std::string latex() const;
  /// One object per row, keys in column order: text as strings, numbers and flags as such, nothing
  /// as null.
  Json json() const;

 private:
  std::vector<TableColumn> columns_;
  std::vector<std::vector<TableCell>> rows_;
};

}  // namespace joulebench::report_detail
