// `joulebench __generate man DIR` and `joulebench __generate bash-completion FILE`: the man pages
// and the bash completion, written by walking the command line the parser itself uses, so they
// name every subcommand and option the binary has (the build runs them; hidden from users).
// Hidden subcommands and options (group "") are left out of both.
#include <cctype>
#include <fstream>
#include <memory>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "commands.hpp"
#include "joulebench/version.hpp"

namespace joulebench::cli {

namespace {

namespace fs = std::filesystem;

bool visible(const CLI::App* app) { return !app->get_name().empty() && !app->get_group().empty(); }
bool visible(const CLI::Option* option) { return !option->get_group().empty(); }

std::vector<const CLI::App*> subcommands(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App* sub) { return visible(sub); });
}
std::vector<const CLI::Option*> named_options(const CLI::App& app) {
  return app.get_options([](const CLI::Option* o) { return visible(o) && o->nonpositional(); });
}
std::vector<const CLI::Option*> positionals(const CLI::App& app) {
  return app.get_options([](const CLI::Option* o) { return visible(o) && !o->nonpositional(); });
}

/// -o, --output: every name of an option, short ones first.
std::vector<std::string> option_names(const CLI::Option& option) {
  std::vector<std::string> names;
  for (const auto& s : option.get_snames()) names.push_back("-" + s);
  for (const auto& l : option.get_lnames()) names.push_back("--" + l);
  return names;
}

/// Flags expect no value (CLI11 sets expected(0) for them).
bool takes_value(const CLI::Option& option) { return option.get_expected_max() > 0; }

/// The program's name: CLI11 sets the app's name to argv[0], a path where the build runs it.
std::string program_name(const CLI::App& root) { return fs::path(root.get_name()).filename().string(); }

/// `joulebench measure`, `joulebench`: the command line that reaches `app`.
std::string command_line(const CLI::App& app) {
  return app.get_parent() ? command_line(*app.get_parent()) + " " + app.get_name() : program_name(app);
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

// --- man pages ---

/// Text as roff: backslashes and hyphens escaped (a `-` in an option must stay ASCII when copied),
/// characters beyond ASCII as \[uXXXX] (groff then needs no input encoding), and a line that would
/// read as a request (a leading `.` or `'`) guarded with \&.
std::string roff(std::string_view text) {
  std::string out;
  bool line_start = true;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    line_start = c == '\n';
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      // A UTF-8 sequence: its length from the lead byte, its code point from the rest.
      const int length = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      char32_t code = c & (0x3F >> (length - 1));
      for (int k = 1; k < length && i + 1 < text.size(); ++k) code = (code << 6) | (text[++i] & 0x3F);
      out += fmt::format("\\[u{:04X}]", static_cast<std::uint32_t>(code));
    }
  }
  return out;
}

/// A description as a sentence: a full stop added where it has none.
std::string sentence(std::string text) {
  if (!text.empty() && text.back() != '.' && text.back() != ')') text += '.';
  return text;
}

std::string roff_option(const CLI::Option& option) {
  std::string text;
  for (const auto& name : option_names(option))
    text += (text.empty() ? "" : ", ") + fmt::format("\\fB{}\\fR", roff(name));
  if (takes_value(option)) text += fmt::format(" \\fI{}\\fR", roff(option.get_type_name()));
  return text;
}

std::string roff_positional(const CLI::Option& option) {
  std::string text = fmt::format("\\fI{}\\fR", roff(option.get_name(true)));
  if (option.get_items_expected_max() > 1) text += "...";
  return option.get_required() ? text : "[" + text + "]";
}

std::string option_description(const CLI::Option& option) {
  std::string text = option.get_description();
  if (takes_value(option) && !option.get_default_str().empty())
    text += fmt::format(" (default: {})", option.get_default_str());
  return text;
}

std::string man_page(const CLI::App& app, const CLI::App& root) {
  const std::string program = program_name(root);
  const std::string name = app.get_parent() ? program + "-" + app.get_name() : program;
  std::string upper = name;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string page = fmt::format(".TH {} 1 \"\" \"joulebench {}\" \"joulebench manual\"\n", roff(upper), kVersion);
  // The top level's description names the program already ("joulebench: what ...").
  std::string summary = app.get_description();
  if (summary.starts_with(program + ": ")) summary.erase(0, program.size() + 2);
  page += fmt::format(".SH NAME\n{} \\- {}\n", roff(name), roff(summary));

  const auto subs = subcommands(app);
  page += fmt::format(".SH SYNOPSIS\n.B {}\n[\\fIOPTIONS\\fR]", roff(command_line(app)));
  for (const auto* p : positionals(app)) page += " " + roff_positional(*p);
  if (!subs.empty()) page += " \\fICOMMAND\\fR [\\fIARGS\\fR]";
  if (app.get_prefix_command()) page += " [\\fIARGS\\fR...]";  // the rest is passed on as it is
  page += "\n.SH DESCRIPTION\n" + roff(sentence(app.get_description())) + "\n";
  if (!subs.empty()) {
    page += ".SH COMMANDS\n";
    for (const auto* sub : subs) {
      page += fmt::format(".TP\n\\fB{}\\fR\n{}\n.br\nSee \\fB{}\\-{}\\fR(1).\n", roff(sub->get_name()),
                          roff(sub->get_description()), roff(name), roff(sub->get_name()));
    }
  }
  if (const auto args = positionals(app); !args.empty()) {
    page += ".SH ARGUMENTS\n";
    for (const auto* p : args) page += fmt::format(".TP\n{}\n{}\n", roff_positional(*p), roff(p->get_description()));
  }
  page += ".SH OPTIONS\n";
  for (const auto* o : named_options(app))
    page += fmt::format(".TP\n{}\n{}\n", roff_option(*o), roff(option_description(*o)));
  if (app.get_parent() && app.get_fallthrough() && !named_options(root).empty()) {
    page += fmt::format(".PP\nThe options of \\fB{}\\fR(1) may follow the command too.\n", roff(program));
  }
  if (const std::string footer = app.get_footer(); !footer.empty()) {
    // Footers are usage lines laid out by hand: kept line for line.
    page += ".SH NOTES\n.nf\n" + roff(footer) + "\n.fi\n";
  }
  page += ".SH SEE ALSO\n";
  if (app.get_parent()) {
    page += fmt::format("\\fB{}\\fR(1)\n", roff(program));
  } else {
    std::string see;
    for (const auto* sub : subs)
      see += fmt::format("{}\\fB{}\\-{}\\fR(1)", see.empty() ? "" : ",\n", roff(name), roff(sub->get_name()));
    page += see + "\n";
  }
  return page;
}

/// Writes NAME.1 for the app and NAME-COMMAND.1 for each visible subcommand into `dir`.
void write_man_pages(const CLI::App& root, const fs::path& dir) {
  fs::create_directories(dir);
  const std::string program = program_name(root);
  write_file(dir / (program + ".1"), man_page(root, root));
  for (const auto* sub : subcommands(root))
    write_file(dir / (program + "-" + sub->get_name() + ".1"), man_page(*sub, root));
}

// --- bash completion ---

/// What to offer for an option's value or a positional: `files`, `dirs`, a word list, or nothing.
struct ValueCompletion {
  enum class Kind { none, files, dirs, words } kind = Kind::none;
  std::vector<std::string> words;
};

/// From the type name (FILE, DIR, PLAN, PATH, a|b|c) and CLI11's member checks ({a,b,c}).
ValueCompletion value_completion(const CLI::Option& option) {
  const std::string type = option.get_type_name();
  static const std::regex choices(R"(\{([A-Za-z0-9_.,-]+)\}|^([A-Za-z0-9_.-]+(\|[A-Za-z0-9_.-]+)+)$)");
  if (std::smatch m; std::regex_search(type, m, choices)) {
    ValueCompletion v{ValueCompletion::Kind::words, {}};
    const std::string list = m[1].matched ? m[1].str() : m[2].str();
    const char separator = m[1].matched ? ',' : '|';
    std::size_t start = 0;
    for (std::size_t end; (end = list.find(separator, start)) != std::string::npos; start = end + 1)
      v.words.push_back(list.substr(start, end - start));
    v.words.push_back(list.substr(start));
    return v;
  }
  if (type.find("DIR") != std::string::npos) return {ValueCompletion::Kind::dirs, {}};
  for (const char* file : {"FILE", "PLAN", "PATH"})
    if (type.find(file) != std::string::npos) return {ValueCompletion::Kind::files, {}};
  return {};
}

std::string join(const std::vector<std::string>& words, std::string_view separator) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : std::string(separator)) + w;
  return out;
}

std::string completion_action(const ValueCompletion& v) {
  switch (v.kind) {
    case ValueCompletion::Kind::files: return "_joulebench_files -f";
    case ValueCompletion::Kind::dirs: return "_joulebench_files -d";
    case ValueCompletion::Kind::words:
      return fmt::format("mapfile -t COMPREPLY < <(compgen -W '{}' -- \"$cur\")", join(v.words, " "));
    case ValueCompletion::Kind::none: break;
  }
  return "";
}

/// The case arms for one app (`key` is its name, or "" for the top level): its words, and what
/// follows each of its options that takes a value.
void completion_arms(const CLI::App& app, const std::string& key, std::string& words_arms, std::string& value_arms,
                     std::string& positional_arms) {
  std::vector<std::string> words;
  for (const auto* o : named_options(app)) {
    const auto names = option_names(*o);
    words.insert(words.end(), names.begin(), names.end());
    if (takes_value(*o)) {
      std::vector<std::string> patterns;
      for (const auto& n : names) patterns.push_back(fmt::format("'{} {}'", key, n));
      // A value with nothing to offer still ends the completion: no option names where a value goes.
      const std::string action = completion_action(value_completion(*o));
      value_arms += fmt::format("    {}) {}return 0 ;;\n", join(patterns, " | "), action.empty() ? "" : action + "; ");
    }
  }
  words_arms += fmt::format("    '{}') options='{}' ;;\n", key, join(words, " "));
  // A command's non-option words: its first positional decides (files for a command to run, too).
  const auto args = positionals(app);
  if (!args.empty()) {
    auto v = value_completion(*args.front());
    if (v.kind == ValueCompletion::Kind::none) v.kind = ValueCompletion::Kind::files;
    positional_arms += fmt::format("      '{}') {} ;;\n", key, completion_action(v));
  }
}

std::string bash_completion(const CLI::App& root) {
  std::vector<std::string> names;
  std::string words_arms, value_arms, positional_arms;
  completion_arms(root, "", words_arms, value_arms, positional_arms);
  for (const auto* sub : subcommands(root)) {
    names.push_back(sub->get_name());
    completion_arms(*sub, sub->get_name(), words_arms, value_arms, positional_arms);
  }
  const std::string program = program_name(root);
  return fmt::format(R"(# bash completion for {program}: generated from its command line by `{program} __generate
# bash-completion` (edit src/cli, not this file).

_joulebench_files() {{
  compopt -o filenames 2>/dev/null || true
  mapfile -t COMPREPLY < <(compgen "$1" -- "$cur")
}}

_joulebench() {{
  local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD - 1]}}
  local commands='{commands}'
  local command='' after_dashes='' options='' i
  for ((i = 1; i < COMP_CWORD; i++)); do
    if [[ -z $command && " $commands " == *" ${{COMP_WORDS[i]}} "* ]]; then
      command=${{COMP_WORDS[i]}}
    elif [[ -n $command && ${{COMP_WORDS[i]}} == -- ]]; then
      after_dashes=1
    fi
  done
  COMPREPLY=()
  # After `--` come the measured command and its arguments.
  if [[ -n $after_dashes ]]; then _joulebench_files -f; return 0; fi
  case "$command $prev" in
{value_arms}  esac
  case "$command" in
{words_arms}  esac
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$options" -- "$cur")
  elif [[ -z $command ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
  else
    case "$command" in
{positional_arms}    esac
  fi
  return 0
}}
complete -F _joulebench {program}
)",
                     fmt::arg("program", program), fmt::arg("commands", join(names, " ")),
                     fmt::arg("value_arms", value_arms), fmt::arg("words_arms", words_arms),
                     fmt::arg("positional_arms", positional_arms));
}

}  // namespace

Command add_generate(CLI::App& app) {
  auto* cmd = app.add_subcommand("__generate",
                                 "Write the man pages (man DIR) or the bash completion "
                                 "(bash-completion FILE) from this command line (the build runs it)");
  cmd->group("");
  auto what = std::make_shared<std::string>();
  auto path = std::make_shared<std::string>();
  cmd->add_option("what", *what, "man or bash-completion")
      ->required()
      ->check(CLI::IsMember({"man", "bash-completion"}));
  cmd->add_option("path", *path, "the folder (man) or the file (bash-completion)")->required();
  return {cmd, [cmd, what, path] {
            const CLI::App& root = *cmd->get_parent();
            if (*what == "man") {
              write_man_pages(root, *path);
            } else {
              write_file(*path, bash_completion(root));
            }
            return 0;
          }};
}

}  // namespace joulebench::cli
