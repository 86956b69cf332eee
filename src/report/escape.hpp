// Escaping for every text format joulebench writes: each format has one function that makes any
// text (a workload's name, a label from a plan, a function's name) safe in it. Every writer calls
// these and escapes nothing by hand; docs/formats.md says what users see of them.
#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace joulebench::report_detail {

// ---- CSV ------------------------------------------------------------------------------------------

/// Whether text would be run as a formula by a spreadsheet (Excel, LibreOffice, Google Sheets)
/// opening the CSV: it starts with = + - @, a tab or a carriage return. Apostrophes before such a
/// character count too, so that the guard below can always be taken off again exactly.
inline bool csv_needs_formula_guard(std::string_view text) {
  const auto first = text.find_first_not_of('\'');
  return first != std::string_view::npos && std::string_view("=+-@\t\r").find(text[first]) != std::string_view::npos;
}

/// A CSV text cell: a label, a name, a status, a reason; never a number, which is written as it is.
/// With `guard_formulas` (all joulebench writes except `export --raw`), text a spreadsheet would run
/// as a formula gets a leading ' ("=1+1" is written '=1+1; "-" too); csv_unguard takes it off.
/// Then RFC 4180: a field with a comma, a double quote or a line break is quoted, quotes doubled;
/// so is one with a space or tab at either end, which readers (libcsv, spreadsheets) trim otherwise.
inline std::string csv_field(std::string_view text, bool guard_formulas = true) {
  std::string cell = guard_formulas && csv_needs_formula_guard(text) ? "'" : "";
  cell += text;
  const auto trimmed = [](char c) { return c == ' ' || c == '\t'; };
  const bool quoted = cell.find_first_of(",\"\r\n") != std::string::npos ||
                      (!cell.empty() && (trimmed(cell.front()) || trimmed(cell.back())));
  if (!quoted) return cell;
  std::string out = "\"";
  for (char c : cell) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

/// A text cell read back from CSV (RFC 4180 quoting already undone), with the guard that
/// csv_field adds taken off: what `joulebench import` stores.
inline std::string csv_unguard(std::string_view field) {
  if (field.starts_with('\'') && csv_needs_formula_guard(field.substr(1))) field.remove_prefix(1);
  return std::string(field);
}

// ---- Markdown -------------------------------------------------------------------------------------

/// Markdown text (a table cell, a list item, a heading) that renders as written. A pipe would end
/// the cell and a line break the row; HTML tags, entities and <autolinks> are made inert as
/// entities; a backslash, the marks of emphasis (* _ ~) and code spans (`) are escaped, and so is
/// the `(` of `](`, which would make a link. Plain names stay as they are: ncf-libtorch-train,
/// resnet_50 (between two letters or digits, `_` cannot start or end emphasis).
inline std::string md_escape(std::string_view text) {
  const auto word_at = [&](std::size_t i) {
    return i < text.size() && std::isalnum(static_cast<unsigned char>(text[i]));
  };
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    switch (c) {
      case '\n':
      case '\r': out += ' '; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '|':
      case '\\':
      case '`':
      case '*':
      case '~':
        out += '\\';
        out += c;
        break;
      case '_':
        if (!(i > 0 && word_at(i - 1) && word_at(i + 1))) out += '\\';
        out += c;
        break;
      case '(':
        if (i > 0 && text[i - 1] == ']') out += '\\';
        out += c;
        break;
      default: out += c;
    }
  }
  return out;
}

// ---- LaTeX ----------------------------------------------------------------------------------------

/// LaTeX text mode: the ten special characters.
inline std::string tex_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
      case '%':
      case '$':
      case '#':
      case '_':
      case '{':
      case '}':
        out += '\\';
        out += c;
        break;
      case '~': out += "\\textasciitilde{}"; break;
      case '^': out += "\\textasciicircum{}"; break;
      case '\\': out += "\\textbackslash{}"; break;
      default: out += c;
    }
  }
  return out;
}

// ---- HTML -----------------------------------------------------------------------------------------

/// HTML text and double-quoted attribute values: a label named `<script>` shows as text.
inline std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// ---- gnuplot --------------------------------------------------------------------------------------

/// A gnuplot string literal, for titles, axis labels, `set label` and plot titles: single-quoted
/// (no escapes are interpreted), quotes doubled, control characters (a line break would end the
/// command) turned into spaces. The report's terminals are `noenhanced`, so `_ ^ @ &` stay
/// themselves, and gnuplot's SVG terminal writes < and & as entities.
inline std::string gnuplot_string(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "''";
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out + "'";
}

/// A tic label of `set xtics ('label' 1, ...)`: gnuplot uses it as a printf format for the tic's
/// position, so a `%` is doubled (a lone one fails the whole script: "Bad format character").
inline std::string gnuplot_tic_label(std::string_view text) {
  std::string literal;
  literal.reserve(text.size());
  for (char c : text) {
    literal += c;
    if (c == '%') literal += '%';
  }
  return gnuplot_string(literal);
}

}  // namespace joulebench::report_detail
