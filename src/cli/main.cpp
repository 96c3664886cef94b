/*
 * clustermim: one binary that fits tokenizers, scores them (TCAS), and (later) pretrains and
 * evaluates Vision Transformers. Subcommands live in src/cli/cmd_*.cpp; this file wires them
 * up and turns every library error into one line on stderr and a non-zero exit.
 */
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstring>
#include <iostream>

#include "backend/runtime.h"
#include "cli/context.h"
#include "core/error.h"

namespace {

/// `arg` as a POSIX shell reads it back: unchanged when plain, else in single quotes, so the
/// command line recorded in reports can be pasted into a shell.
std::string shell_quote(const std::string& arg) {
  const bool plain = !arg.empty() && std::all_of(arg.begin(), arg.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("_./=:,+@%-", c) != nullptr;
  });
  if (plain) return arg;
  std::string out = "'";
  for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

int main(int argc, char** argv) {
  clustermim::prepare_process_environment(argv);
  spdlog::set_default_logger(spdlog::stderr_color_mt("clustermim"));
  spdlog::set_pattern("[%H:%M:%S] %^%l%$ %v");
  CLI::App app{"clustermim: masked image modeling with discrete tokens (ClusterMIM, TCAS)"};
  app.require_subcommand(1);
  app.fallthrough();
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  clustermim::GlobalOptions global;
  clustermim::add_global_options(app, global);
  clustermim::register_data_commands(app, global);
  clustermim::register_tokenizer_commands(app, global);
  clustermim::register_tcas_command(app, global);
  clustermim::register_export_command(app, global);
  clustermim::register_tokens_command(app, global);
  std::string command_line = "clustermim";
  for (int i = 1; i < argc; ++i) command_line += " " + shell_quote(argv[i]);
  clustermim::register_run_commands(app, global, command_line);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const clustermim::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: internal: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
