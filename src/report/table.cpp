// The one table writer (table.hpp).
#include "report/table.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "report/escape.hpp"

namespace joulebench::report_detail {

TableCell TableCell::text(std::string text) {
  TableCell c;
  c.kind_ = Kind::text;
  c.text_ = std::move(text);
  return c;
}

TableCell TableCell::number(double value) {
  if (!std::isfinite(value)) return {};
  TableCell c;
  c.kind_ = Kind::number;
  c.value_ = value;
  c.text_ = fmt::format("{}", value);
  return c;
}

TableCell TableCell::number(const std::optional<double>& value) { return value ? number(*value) : TableCell(); }

TableCell TableCell::integer(long long value) {
  TableCell c;
  c.kind_ = Kind::integer;
  c.integer_ = value;
  c.text_ = fmt::format("{}", value);
  return c;
}

TableCell TableCell::flag(bool value) {
  TableCell c;
  c.kind_ = Kind::flag;
  c.flag_ = value;
  c.text_ = value ? "true" : "false";
  return c;
}

TableCell TableCell::formatted(std::string text) {
  TableCell c;
  c.kind_ = Kind::formatted;
  c.text_ = std::move(text);
  return c;
}

TableCell TableCell::latex(std::string markup, std::string plain) {
  TableCell c;
  c.kind_ = Kind::latex;
  c.latex_ = std::move(markup);
  c.text_ = std::move(plain);
  return c;
}

Table::Table(std::vector<TableColumn> columns) : columns_(std::move(columns)) {}

void Table::add_row(std::vector<TableCell> row) {
  if (row.size() != columns_.size()) {
    throw std::logic_error(fmt::format("a table row of {} cells under {} columns", row.size(), columns_.size()));
  }
  rows_.push_back(std::move(row));
}

std::string Table::csv(bool guard_formulas) const {
  std::string out;
  for (std::size_t i = 0; i < columns_.size(); ++i) out += (i ? "," : "") + csv_field(columns_[i].name, guard_formulas);
  out += '\n';
  for (const auto& row : rows_) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i) out += ',';
      const TableCell& c = row[i];
      // Numbers and flags are written as they are: a negative number is no formula.
      out += c.kind_ == TableCell::Kind::text || c.kind_ == TableCell::Kind::latex ? csv_field(c.text_, guard_formulas)
                                                                                   : c.text_;
    }
    out += '\n';
  }
  return out;
}

std::string Table::markdown() const {
  std::string out = "|";
  for (const auto& c : columns_) out += " " + md_escape(c.name) + " |";
  out += "\n|";
  for (const auto& c : columns_) out += c.align == ColumnAlign::right ? "--:|" : "---|";
  out += '\n';
  for (const auto& row : rows_) {
    out += "|";
    for (const auto& c : row) {
      out += " " +
             (c.kind_ == TableCell::Kind::text || c.kind_ == TableCell::Kind::latex ? md_escape(c.text_) : c.text_) +
             " |";
    }
    out += '\n';
  }
  return out;
}

std::string Table::latex() const {
  std::string spec;
  for (const auto& c : columns_) spec += c.align == ColumnAlign::right ? 'r' : 'l';
  std::string out = "\\begin{tabular}{" + spec + "}\n\\toprule\n";
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    const auto& c = columns_[i];
    out += (i ? " & " : "") + (c.latex_name.empty() ? tex_escape(c.name) : c.latex_name);
  }
  out += " \\\\\n\\midrule\n";
  for (const auto& row : rows_) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      const TableCell& c = row[i];
      const std::string cell = c.kind_ == TableCell::Kind::latex   ? c.latex_
                               : c.kind_ == TableCell::Kind::empty ? "--"
                                                                   : tex_escape(c.text_);
      out += (i ? " & " : "") + cell;
    }
    out += " \\\\\n";
  }
  out += "\\bottomrule\n\\end{tabular}\n";
  return out;
}

Json Table::json() const {
  Json out = Json::array();
  for (const auto& row : rows_) {
    Json object = Json::object();
    for (std::size_t i = 0; i < row.size(); ++i) {
      const TableCell& c = row[i];
      switch (c.kind_) {
        case TableCell::Kind::empty: object[columns_[i].name] = nullptr; break;
        case TableCell::Kind::number: object[columns_[i].name] = c.value_; break;
        case TableCell::Kind::integer: object[columns_[i].name] = c.integer_; break;
        case TableCell::Kind::flag: object[columns_[i].name] = c.flag_; break;
        default: object[columns_[i].name] = c.text_;
      }
    }
    out.push_back(std::move(object));
  }
  return out;
}

}  // namespace joulebench::report_detail
