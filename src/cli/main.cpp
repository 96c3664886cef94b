/*
 * clustermim: one binary that fits tokenizers, scores them (TCAS), pretrains and evaluates
 * Vision Transformers. Subcommands live in src/cli/cmd_*.cpp; this file wires them up and is the
 * one error boundary: whatever a subcommand throws (clustermim::Error, a file-system error, a
 * JSON or LibTorch error, an allocation failure) becomes one line on stderr, `error: <what>`,
 * naming the file or key where the exception does, and a non-zero exit.
 */
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstring>
#include <iostream>

#include <filesystem>
#include <new>
#include <nlohmann/json.hpp>

#include "backend/runtime.h"
#include "backend/torch_pch.h"
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

/// The first line of `text`, without trailing blanks (LibTorch messages run to many lines).
std::string first_line(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  return line.empty() ? "unknown failure" : line;
}

/// The one line `error: ...` for whatever a subcommand threw; the exit status is 1.
int report_failure() {
  std::string message;
  try {
    throw;
  } catch (const clustermim::Error& e) {
    message = e.what();
  } catch (const std::filesystem::filesystem_error& e) {
    message = e.path1().string() + ": " + e.code().message();
    if (!e.path2().empty()) message += " (with " + e.path2().string() + ")";
  } catch (const nlohmann::json::exception& e) {
    message = std::string("malformed JSON value: ") + e.what();
  } catch (const c10::Error& e) {
    message = "LibTorch: " + std::string(e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    message = "out of memory";
  } catch (const std::exception& e) {
    message = e.what();
  } catch (...) {
    message = "unknown failure";
  }
  std::cerr << "error: " << first_line(message) << "\n";
  return 1;
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
  clustermim::register_finetune_command(app, global);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "error: " << first_line(e.what()) << " (see --help)\n";
    return e.get_exit_code() != 0 ? e.get_exit_code() : 1;
  } catch (...) {
    return report_failure();
  }
  return 0;
}
