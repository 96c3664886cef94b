/*
 * clustermim._core: TCAS for the Python module, linked to cm_base only and, through
 * --as-needed, to none of the image libraries, so that `import clustermim` and
 * `clustermim.tcas` load neither LibTorch nor OpenCV (and take milliseconds).
 *
 *   tcas(tokens, labels, vocab=None, bootstrap=0, seed=0) -> dict   the CLI's JSON row
 *   compare_tcas(tokens_a, tokens_b, labels, ...) -> dict           paired bootstrap comparison
 *
 * Both TCAS calls go through score_tcas / compare_tcas (metrics/tcas_bootstrap.h), the functions
 * the CLI's `tcas` calls, and return tcas_to_json's row: the same keys and the same numbers.
 */
#include "bridge.h"
#include "metrics/tcas_bootstrap.h"

namespace clustermim::python {

namespace {

/// Tokens [N, L] and labels [N] or [N, L] from numpy, checked for shape, ready for a view.
struct TokenInput {
  IdArray tokens;
  IdArray labels;
  int64_t vocab = 0;  ///< 0 = infer (largest id + 1)

  /// The view score_tcas reads. Converts and scans; run with the GIL released.
  TokenLabelView view() {
    tokens.materialize();
    labels.materialize();
    TokenLabelView v;
    v.tokens = tokens.data;
    v.labels = labels.data;
    v.images = tokens.shape[0];
    v.patches = tokens.shape[1];
    v.labels_per_patch = labels.shape.size() == 2;
    // Inferred sizes are at least 1, so that negative ids get check_token_labels' message.
    v.vocab = vocab > 0 ? vocab : int64_t{tokens.max_value()} + 1;
    v.num_classes = int64_t{labels.max_value()} + 1;
    return v;
  }
};

TokenInput token_input(const py::handle& tokens, const py::handle& labels,
                       const py::object& vocab, const std::string& what) {
  TokenInput in;
  in.tokens = prepare_ids(tokens, what + ": tokens");
  in.labels = prepare_ids(labels, what + ": labels");
  const std::vector<int64_t>& ts = in.tokens.shape;
  const std::vector<int64_t>& ls = in.labels.shape;
  CM_REQUIRE(ts.size() == 2, what, ": tokens must be [N, L] (images x patches), got ",
             shape_text(ts));
  CM_REQUIRE(ls.size() == 1 || ls.size() == 2, what,
             ": labels must be [N] (per image) or [N, L] (per patch), got ", shape_text(ls));
  CM_REQUIRE(ls[0] == ts[0], what, ": ", ls[0], " labels for ", ts[0], " images (tokens ",
             shape_text(ts), ")");
  CM_REQUIRE(ls.size() == 1 || ls == ts, what, ": per-patch labels ", shape_text(ls),
             " do not match tokens ", shape_text(ts));
  if (!vocab.is_none()) {
    in.vocab = vocab.cast<int64_t>();
    CM_REQUIRE(in.vocab >= 1, what, ": vocab must be >= 1, got ", in.vocab);
  }
  return in;
}

BootstrapOptions bootstrap_options(int64_t rounds, uint64_t seed, double level) {
  BootstrapOptions options;
  options.rounds = rounds;
  options.seed = seed;
  options.level = level;
  return options;
}

py::dict tcas(const py::handle& tokens, const py::handle& labels, const py::object& vocab,
              int64_t bootstrap, uint64_t seed, double level) {
  TokenInput in = token_input(tokens, labels, vocab, "tcas");
  const BootstrapOptions options = bootstrap_options(bootstrap, seed, level);
  nlohmann::json row;
  {
    py::gil_scoped_release release;
    row = tcas_to_json(score_tcas(in.view(), options, "tcas"));
  }
  return to_python(row);
}

py::dict compare(const py::handle& tokens_a, const py::handle& tokens_b, const py::handle& labels,
                 const py::object& vocab_a, const py::object& vocab_b, int64_t bootstrap,
                 uint64_t seed, double level) {
  TokenInput a = token_input(tokens_a, labels, vocab_a, "compare_tcas: tokens_a");
  TokenInput b = token_input(tokens_b, labels, vocab_b, "compare_tcas: tokens_b");
  CM_REQUIRE(a.labels.shape.size() == 1, "compare_tcas: labels must be [N] (per image), got ",
             shape_text(a.labels.shape));
  const BootstrapOptions options = bootstrap_options(bootstrap, seed, level);
  TcasReport report_a, report_b;
  TcasComparison result;
  {
    py::gil_scoped_release release;
    const TokenLabelView view_a = a.view(), view_b = b.view();
    BootstrapOptions no_interval = options;
    no_interval.rounds = 0;
    report_a = score_tcas(view_a, no_interval, "compare_tcas: tokens_a");
    report_b = score_tcas(view_b, no_interval, "compare_tcas: tokens_b");
    result = compare_tcas(view_a, view_b, options);
  }
  py::dict out;
  out["tcas_a"] = report_a.tcas;
  out["tcas_b"] = report_b.tcas;
  out["difference"] = result.difference;
  const bool interval = result.interval.rounds > 0;
  out["difference_ci_low"] = interval ? py::object(py::float_(result.interval.low)) : py::none();
  out["difference_ci_high"] = interval ? py::object(py::float_(result.interval.high)) : py::none();
  out["bootstrap_rounds"] = result.interval.rounds;
  out["p_value"] = interval ? py::object(py::float_(result.p_value)) : py::none();
  return out;
}

}  // namespace

}  // namespace clustermim::python

PYBIND11_MODULE(_core, m) {
  using namespace clustermim::python;
  m.doc() = "clustermim's torch-free core: TCAS of token ids.";
  register_error_translation();

  m.def("tcas", &tcas, py::arg("tokens"), py::arg("labels"), py::arg("vocab") = py::none(),
        py::arg("bootstrap") = 0, py::arg("seed") = 0, py::arg("level") = 0.95,
        R"doc(TCAS of token ids against class labels (lower is better), with its diagnostics.

tokens: [N, L] integer ids (N images, L patches each), any integer dtype; C-contiguous int32 is
    read in place, other layouts and dtypes are converted (values must fit in int32).
labels: [N] class ids per image, or [N, L] per patch.
vocab: K, the number of token ids (default: largest id + 1); every id must be in [0, K).
bootstrap: B resamples of the images for a percentile bootstrap interval (0: no interval).
seed: seed of the resampling; the same seed gives the same interval as the CLI's --seed.
level: two-sided coverage of the interval (0.95).

Returns the CLI's JSON row: tcas, alpha, chance, vocab, k_used, perplexity, collision, nmi,
left_out_mass, patches, tcas_ci_low, tcas_ci_high (None without bootstrap), bootstrap_rounds and
per_class (a list of dicts: class, patches, error_contribution, error_rate, collision).
Raises ValueError with the CLI's message for bad dtypes, shapes or ids.)doc");

  m.def("compare_tcas", &compare, py::arg("tokens_a"), py::arg("tokens_b"), py::arg("labels"),
        py::arg("vocab_a") = py::none(), py::arg("vocab_b") = py::none(),
        py::arg("bootstrap") = 200, py::arg("seed") = 0, py::arg("level") = 0.95,
        R"doc(Paired comparison of two tokenizations of the same N images.

tokens_a, tokens_b: [N, L_a] and [N, L_b] integer ids of the same images, in the same order.
labels: [N] class ids per image.
vocab_a, vocab_b: their vocabularies (default: largest id + 1).
bootstrap: B rounds; each round resamples the images once for both tokenizers.

Returns a dict: tcas_a, tcas_b, difference (tcas_a - tcas_b, negative: a is better),
difference_ci_low / difference_ci_high (None without bootstrap), bootstrap_rounds and p_value (the
two-sided bootstrap p-value of "no difference"; None without bootstrap).)doc");
}
