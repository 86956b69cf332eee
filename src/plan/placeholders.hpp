// Placeholders in plans ({framework}, a matrix key's {name}): the words that can be one, and how
// text is written so that the plan reader's substitution gives it back unchanged (plan_toml).
#pragma once

#include <string>
#include <string_view>

namespace joulebench::plan_detail {

/// A word that can be a placeholder: a letter or '_', then letters, digits, '_' or '-'.
bool is_placeholder_word(std::string_view word);

/// `text` as a plan writes it so that reading substitutes it back to `text`: {word} becomes
/// {{word}}; everything else (${...}, braces around what is no placeholder word) stays.
std::string escape_placeholders(std::string_view text);

}  // namespace joulebench::plan_detail
