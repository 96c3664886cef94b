/*
 * The pretraining loop (see pretrain.h).
 */
#include "train/pretrain.h"

#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <optional>

#include "backend/tensor_batches.h"
#include "backend/torch_compat.h"
#include "core/error.h"
#include "core/progress.h"
#include "data/loader.h"
#include "train/schedule.h"
#include "io/file_util.h"
#include "train/adamw.h"
#include "tokenizers/prepared_tokenizer.h"
#include "train/checkpoint.h"
#include "train/distributed.h"
#include "train/metrics_log.h"
#include "train/run_totals.h"

namespace clustermim {

namespace {

std::atomic<int> g_stop_signal{0};

void on_stop_signal(int signal) { g_stop_signal = signal; }

/// Installs SIGINT/SIGTERM handlers for the lifetime of the object.
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal = 0;
    previous_int_ = std::signal(SIGINT, on_stop_signal);
    previous_term_ = std::signal(SIGTERM, on_stop_signal);
  }
  ~StopSignals() {
    std::signal(SIGINT, previous_int_);
    std::signal(SIGTERM, previous_term_);
  }

 private:
  void (*previous_int_)(int);
  void (*previous_term_)(int);
};

/// One step's numbers.
struct StepStats {
  double loss = 0, accuracy = 0, grad_norm = 0, lr = 0;
  double tokenize_seconds = 0;  ///< time of the tokenizer (a teacher forward for feature tokens)
  bool skipped = false;
  bool stop = false;            ///< a stop signal arrived (at any rank)
};

uint64_t mix_seed(uint64_t seed, uint64_t step) {
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + step + 1;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/// Rows [first, first + count) of every field of `m`.
Masking rows_of(const Masking& m, int64_t first, int64_t count) {
  return {m.ids_keep.narrow(0, first, count), m.mask.narrow(0, first, count),
          m.ids_restore.narrow(0, first, count)};
}

/// `model` moved to `device`: the optimizer's moments are built from the parameters as they are.
MimModel& on_device(MimModel& model, torch::Device device) {
  model->to(device);
  return model;
}

class Trainer {
 public:
  Trainer(MimModel& model, const Tokenizer* tokenizer, const ImageSource& train,
          const ChannelStats& stats, const PretrainOptions& o, torch::Device device,
          const nlohmann::json& config)
      : model_(on_device(model, device)), tokenizer_(tokenizer), o_(o), device_(device),
        config_(config),
        world_(o.group != nullptr ? o.group->world_size() : 1),
        main_(o.group == nullptr || o.group->is_main()),
        optimizer_(*model, AdamWOptions{0.9, 0.95, 1e-8, o.weight_decay}),
        loader_(train, loader_options(model->config(), stats, o, device)) {
    const MimConfig& mc = model->config();
    CM_REQUIRE(mc.target == "pixels" || tokenizer != nullptr, "pretrain: token targets need a tokenizer");
    CM_REQUIRE(o.accum_steps >= 1, "pretrain.accum_steps must be >= 1, got ", o.accum_steps);
    if (tokenizer != nullptr && mc.target == "tokens") {
      const TokenizerSpec& s = tokenizer->spec();
      CM_REQUIRE(s.vocab == mc.vocab && s.patch_size == mc.encoder.patch_size &&
                     s.image_size == mc.encoder.image_size,
                 "pretrain: tokenizer (K ", s.vocab, ", patch ", s.patch_size, ", image ",
                 s.image_size, ") does not match the model (K ", mc.vocab, ", patch ",
                 mc.encoder.patch_size, ", image ", mc.encoder.image_size, ")");
      CM_REQUIRE(s.kind != "label" || train.num_classes() > 0, "pretrain: the label tokenizer ",
                 "needs labels, and '", train.name(), "' is unlabeled");
    }
    CM_REQUIRE(steps_per_epoch() > 0, "pretrain: '", train.name(), "' has ", train.size(),
               " images, fewer than one optimizer step of ", o.batch_size * o.accum_steps,
               " (batch_size ", o.batch_size, " x accum_steps ", o.accum_steps, ")");
    config_["provenance"] = pretrain_provenance(mc, tokenizer, train, stats, o).to_json();
    spec_ = {mc, stats};
    if (o.group != nullptr) o.group->broadcast_from_main(model_->parameters());
    if (!o.out_dir.empty() && main_) make_dirs(o.out_dir);
  }

  void resume(const std::string& path) {
    const Checkpoint c = load_checkpoint(path);
    const nlohmann::json recorded = c.info.config.value("provenance", nlohmann::json());
    CM_REQUIRE(recorded.is_object(), path, ": records no provenance (written by an older ",
               "clustermim), so it cannot be checked against the current settings; start over ",
               "in an empty folder (clustermim: --fresh)");
    const std::string why = Provenance::from_json(config_["provenance"])
                                .describe_mismatch(Provenance::from_json(recorded));
    CM_REQUIRE(why.empty(), path, ": made under other settings (", why, "); start over in an ",
               "empty folder (clustermim: --fresh) or restore those settings to resume");
    restore_model(c, *model_);
    restore_optimizer(c, optimizer_);
    position_ = c.info.position;
    saved_step_ = position_.step;
    result_.checkpoint = path;
    skipped_ = c.info.extra.value("skipped_steps", int64_t{0});
    if (!o_.out_dir.empty() && main_) {
      totals_ = replay_metrics(metrics_path(), position_.step, position_.batch_in_epoch == 0);
    }
    spdlog::info("resumed from {} at step {} (epoch {}, batch {})", path, position_.step,
                 position_.epoch, position_.batch_in_epoch);
  }

  PretrainResult run() {
    StopSignals signals;
    const int64_t per_epoch = steps_per_epoch();
    const int64_t micro_per_epoch = per_epoch * o_.accum_steps;
    const int64_t total = max_total_steps(per_epoch);
    const auto start = std::chrono::steady_clock::now();
    std::optional<Progress> progress;
    std::optional<MetricsWriter> metrics;
    if (main_) progress.emplace("pretrain", total, position_.step);
    if (main_ && !o_.out_dir.empty()) metrics.emplace(metrics_path());
    model_->train();

    while (position_.step < total) {
      loader_.start_epoch(position_.epoch, position_.batch_in_epoch);
      while (position_.step < total && position_.batch_in_epoch < micro_per_epoch) {
        double dt = 0;
        const StepStats s = step(per_epoch, dt);
        ++position_.step;
        position_.batch_in_epoch += o_.accum_steps;
        totals_.add_step(s.loss, s.accuracy, s.skipped, dt, s.tokenize_seconds);
        log_step(metrics, s, o_.batch_size * o_.accum_steps, dt);
        if (progress) progress->update(position_.step, fmt_status(s));
        if (s.stop) stop_on_signal();
        if (o_.checkpoint_every > 0 && position_.step % o_.checkpoint_every == 0) checkpoint();
      }
      if (position_.batch_in_epoch >= micro_per_epoch) {
        ++position_.epoch;
        position_.batch_in_epoch = 0;
        totals_.end_epoch();
        checkpoint();
      }
    }
    totals_.end_epoch();
    // A run resumed at its end writes nothing: rewriting its last checkpoint would change the
    // file that later steps (a round's teacher, cached features) recorded.
    if (position_.step != saved_step_) checkpoint();
    result_.steps = position_.step;
    result_.skipped_steps = skipped_;
    result_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result_.train_seconds = totals_.train_seconds;
    result_.last_loss = totals_.last_loss;
    result_.last_accuracy = totals_.last_accuracy;
    const double images = static_cast<double>(totals_.steps) * o_.batch_size * o_.accum_steps;
    if (totals_.train_seconds > 0) result_.images_per_second = images / totals_.train_seconds;
    if (totals_.tokenize_seconds > 0) {
      result_.tokenizer_images_per_second = images / totals_.tokenize_seconds;
    }
    if (progress) progress->finish(fmt_status({result_.last_loss, result_.last_accuracy}));
    return result_;
  }

 private:
  static LoaderOptions loader_options(const MimConfig& mc, const ChannelStats& stats,
                                      const PretrainOptions& o, torch::Device device) {
    LoaderOptions lo;
    lo.batch_size = o.batch_size;
    lo.augment = true;
    lo.image_size = static_cast<int>(mc.encoder.image_size);
    lo.augment_options = o.augment;
    lo.stats = stats;
    lo.seed = o.seed;
    lo.workers = o.workers;
    lo.max_bad_fraction = o.max_bad_fraction;
    lo.uint8_pixels = uint8_batches_for(device);
    if (o.group != nullptr) {
      CM_REQUIRE(o.batch_size % o.group->world_size() == 0, "pretrain: batch_size ", o.batch_size,
                 " does not split evenly across ", o.group->world_size(), " processes");
      lo.shard = o.group->rank();
      lo.shards = o.group->world_size();
    }
    return lo;
  }

  /// Optimizer steps per epoch: whole groups of accum_steps micro-batches.
  int64_t steps_per_epoch() const { return loader_.batches_per_epoch() / o_.accum_steps; }

  int64_t max_total_steps(int64_t per_epoch) const {
    const int64_t all = o_.epochs * per_epoch;
    return o_.max_steps > 0 ? std::min(all, o_.max_steps) : all;
  }

  std::string metrics_path() const { return o_.out_dir + "/metrics.jsonl"; }

  /// One optimizer step over the next accum_steps micro-batches; adds the time spent in training
  /// (not in waiting for batches) to `seconds`.
  StepStats step(int64_t per_epoch, double& seconds) {
    const MimConfig& mc = model_->config();
    auto t0 = std::chrono::steady_clock::now();
    // Masks for the whole effective batch, so that every micro-batch and every rank's slice gets
    // the rows one process would give it in a single batch of batch_size * accum_steps.
    const Masking masks = random_masking(
        o_.batch_size * o_.accum_steps, model_->encoder()->num_patches(), mc.mask_ratio, device_,
        at::detail::createCPUGenerator(mix_seed(o_.seed, position_.step)));
    optimizer_.zero_grad();
    StepStats s;
    for (int64_t micro = 0; micro < o_.accum_steps; ++micro) {
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      CM_REQUIRE(loader_.next(batch_), "pretrain: the epoch ended inside optimizer step ",
                 position_.step);
      t0 = std::chrono::steady_clock::now();
      const int64_t rows = batch_.size;
      const int64_t rank = world_ > 1 ? o_.group->rank() : 0;
      accumulate(rows_of(masks, micro * o_.batch_size + rank * rows, rows), s);
    }
    s.stop = g_stop_signal != 0;
    if (world_ > 1) average_across_ranks(s);
    s.grad_norm = clip_grad_norm(optimizer_.params(), o_.clip_grad);
    if (std::isfinite(s.loss) && std::isfinite(s.grad_norm)) {
      consecutive_bad_ = 0;
      const double peak =
          o_.blr * static_cast<double>(o_.batch_size * o_.accum_steps) / 256.0;
      s.lr = cosine_lr(peak, position_.step, o_.epochs * per_epoch,
                       static_cast<int64_t>(o_.warmup_epochs * per_epoch), o_.min_lr);
      optimizer_.step(s.lr);
    }
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return std::isfinite(s.loss) && std::isfinite(s.grad_norm) ? s : skip_step(s);
  }

  /// Forward and backward of the micro-batch in batch_ under `masking` (its rows): gradients of
  /// its loss / accum_steps are added to the parameters', its loss, accuracy and tokenizer time
  /// to `s` (loss and accuracy as their mean over the step's micro-batches).
  void accumulate(const Masking& masking, StepStats& s) {
    const MimConfig& mc = model_->config();
    const TensorBatch b = to_tensors(batch_, device_);
    torch::Tensor targets;
    const auto t0 = std::chrono::steady_clock::now();
    if (mc.target == "tokens") targets = tokenizer_->tokenize({b.images, b.labels, b.indices});
    s.tokenize_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    MimOutput out;
    {
      AutocastGuard autocast(device_, torch::kBFloat16, o_.bf16);
      out = model_->forward(b.images, masking);
    }
    const torch::Tensor predictions = out.predictions.to(torch::kFloat32);
    const torch::Tensor loss =
        mc.target == "tokens"
            ? token_loss(predictions, targets, masking, o_.label_smoothing)
            : pixel_loss(predictions, b.images, masking, mc.encoder.patch_size, mc.norm_pix);
    const double micro_batches = static_cast<double>(o_.accum_steps);
    (loss / micro_batches).backward();
    s.loss += loss.item<double>() / micro_batches;
    if (mc.target == "tokens") {
      s.accuracy += masked_accuracy(predictions.detach(), targets, masking) / micro_batches;
    }
  }

  /// Averages the gradients, loss and accuracy over the ranks and spreads any rank's stop
  /// signal, in one all-reduce; every rank then takes the same decisions and optimizer step.
  void average_across_ranks(StepStats& s) {
    const torch::Tensor numbers = torch::tensor({s.loss, s.accuracy, s.stop ? 1.0 : 0.0});
    std::vector<torch::Tensor> tensors;
    for (const AdamWParam& p : optimizer_.params()) {
      if (p.value.grad().defined()) tensors.push_back(p.value.grad());
    }
    tensors.push_back(numbers);
    o_.group->average(tensors);
    s.loss = numbers[0].item<double>();
    s.accuracy = numbers[1].item<double>();
    s.stop = numbers[2].item<double>() > 0;
  }

  StepStats skip_step(StepStats s) {
    s.skipped = true;
    ++skipped_;
    ++consecutive_bad_;
    optimizer_.zero_grad();
    spdlog::warn("step {}: non-finite loss or gradient (loss {}, grad norm {}), step skipped",
                 position_.step, s.loss, s.grad_norm);
    if (consecutive_bad_ >= o_.max_bad_steps) {
      const std::string path = checkpoint();
      fail("pretrain: ", consecutive_bad_, " non-finite steps in a row at step ", position_.step,
           "; stopped (checkpoint ", path, "). Lower the learning rate or use --set ",
           "pretrain.bf16=false");
    }
    return s;
  }

  [[noreturn]] void stop_on_signal() {
    const int signal = g_stop_signal.load();
    const std::string path = main_ ? checkpoint() : "written by rank 0";
    fail("pretrain: stopped by ", signal != 0 ? "signal " + std::to_string(signal) : "a signal to another rank",
         " at step ", position_.step, " (checkpoint ", path, "); run the same command again to resume");
  }

  std::string checkpoint() {
    if (o_.out_dir.empty() || !main_) return "";
    CheckpointInfo info;
    info.position = position_;
    info.config = config_;
    info.model = spec_;
    info.extra = {{"skipped_steps", skipped_}};
    const Tokenizer* tokenizer = model_->config().target == "tokens" ? tokenizer_ : nullptr;
    try {
      result_.checkpoint = save_checkpoint(o_.out_dir, *model_, &optimizer_, tokenizer, info,
                                           o_.keep_checkpoints);
      saved_step_ = position_.step;
    } catch (const Error& e) {
      const std::string previous = latest_checkpoint(o_.out_dir);
      fail("pretrain: checkpoint at step ", position_.step, " not written: ", e.what(), "; ",
           previous.empty() ? std::string("no earlier checkpoint")
                            : "the previous checkpoint " + previous + " is intact",
           ". Free space and run the same command again to resume");
    }
    return result_.checkpoint;
  }

  void log_step(std::optional<MetricsWriter>& metrics, const StepStats& s, int64_t images,
                double seconds) {
    if (!metrics) return;
    StepRecord r;
    r.step = position_.step;
    r.epoch = position_.epoch;
    r.loss = std::isfinite(s.loss) ? s.loss : NAN;
    if (model_->config().target == "tokens") r.accuracy = s.accuracy;
    r.lr = s.lr;
    r.grad_norm = std::isfinite(s.grad_norm) ? s.grad_norm : NAN;
    r.images_per_second = images / seconds;
    r.step_seconds = seconds;
    r.tokenize_seconds = s.tokenize_seconds;
    r.skipped = s.skipped;
    try {
      metrics->append(r);
    } catch (const Error& e) {  // a full disk: training goes on, the next checkpoint says more
      spdlog::warn("{}", e.what());
    }
  }

  std::string fmt_status(const StepStats& s) const {
    char buffer[96];
    if (model_->config().target == "tokens") {
      std::snprintf(buffer, sizeof(buffer), "loss %.4f acc %.3f", s.loss, s.accuracy);
    } else {
      std::snprintf(buffer, sizeof(buffer), "loss %.4f", s.loss);
    }
    return buffer;
  }

  MimModel& model_;
  const Tokenizer* tokenizer_;
  PretrainOptions o_;
  torch::Device device_;
  nlohmann::json config_;
  CheckpointModelSpec spec_;  ///< the model and input stats, what load_model / load_encoder read
  int world_;  ///< processes in the data-parallel group (1 = alone)
  bool main_;  ///< rank 0 (or alone): logs, writes metrics and checkpoints
  AdamW optimizer_;
  BatchLoader loader_;
  Batch batch_;  ///< the micro-batch being trained on (buffers reused)
  TrainPosition position_;
  int64_t saved_step_ = -1;  ///< step of the newest checkpoint written or resumed from
  PretrainResult result_;
  RunTotals totals_;  ///< of the whole run, rebuilt from the metrics file on resume
  int64_t skipped_ = 0;
  int consecutive_bad_ = 0;
};

}  // namespace

Provenance pretrain_provenance(const MimConfig& model, const Tokenizer* tokenizer,
                               const ImageSource& train, const ChannelStats& stats,
                               const PretrainOptions& o) {
  Provenance p;
  p.set_all("model", to_json(model));
  p.set("data", train.identity());
  p.set_all("stats", nlohmann::json{{"mean", stats.mean}, {"std", stats.std}});
  p.set("tokenizer", tokenizer != nullptr && model.target == "tokens" ? tokenizer_digest(*tokenizer)
                                                                      : "none");
  p.set_all("pretrain", nlohmann::json{{"batch_size", o.batch_size},
                                       {"accum_steps", o.accum_steps}, {"blr", o.blr},
                                       {"min_lr", o.min_lr}, {"warmup_epochs", o.warmup_epochs},
                                       {"weight_decay", o.weight_decay},
                                       {"label_smoothing", o.label_smoothing},
                                       {"clip_grad", o.clip_grad}, {"bf16", o.bf16},
                                       {"seed", o.seed}});
  const AugmentOptions& a = o.augment;
  p.set_all("augment", nlohmann::json{{"scale_min", a.scale_min}, {"scale_max", a.scale_max},
                                      {"ratio_min", a.ratio_min}, {"ratio_max", a.ratio_max},
                                      {"hflip", a.hflip}});
  return p;
}

PretrainResult pretrain(MimModel& model, const Tokenizer* tokenizer, const ImageSource& train,
                        const ChannelStats& stats, const PretrainOptions& options,
                        torch::Device device, const nlohmann::json& config,
                        const std::string& resume_from) {
  Trainer trainer(model, tokenizer, train, stats, options, device, config);
  if (!resume_from.empty()) trainer.resume(resume_from);
  return trainer.run();
}

PretrainResult pretrain(MimModel& model, const Tokenizer* tokenizer, const Dataset& train,
                        const ChannelStats& stats, const PretrainOptions& options,
                        torch::Device device, const nlohmann::json& config,
                        const std::string& resume_from) {
  const MemoryImageSource source(train);
  return pretrain(model, tokenizer, source, stats, options, device, config, resume_from);
}

}  // namespace clustermim
