/*
 * The fine-tuning loop (see finetune.h).
 */
#include "train/finetune.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <optional>

#include "backend/tensor_batches.h"
#include "backend/torch_compat.h"
#include "core/error.h"
#include "core/progress.h"
#include "data/loader.h"
#include "data/source_subset.h"
#include "data/subset.h"
#include "io/file_util.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "train/distributed.h"
#include "train/layer_decay.h"
#include "train/metrics_log.h"
#include "train/run_totals.h"
#include "train/schedule.h"

namespace clustermim {

namespace {

/// The torch seed of step `step`: drop path draws from torch's default generator, reseeded
/// every step so that a resumed run draws what the uninterrupted one did.
uint64_t step_seed(uint64_t seed, int64_t step) {
  Rng rng(seed ^ (0x9e3779b97f4a7c15ull * static_cast<uint64_t>(step + 1)));
  return rng();
}

/// A hash of every parameter and buffer of `module`, names included (16 hex digits).
std::string weights_digest(torch::nn::Module& module) {
  Fingerprint f;
  auto add_all = [&f](const torch::OrderedDict<std::string, torch::Tensor>& tensors) {
    for (const auto& item : tensors) {
      const torch::Tensor t = item.value().detach().to(torch::kCPU, torch::kFloat32).contiguous();
      f.add(item.key());
      f.add_bytes(t.data_ptr(), static_cast<size_t>(t.numel()) * sizeof(float));
    }
  };
  add_all(module.named_parameters());
  add_all(module.named_buffers());
  return f.hex();
}

nlohmann::json epochs_to_json(const std::vector<FinetuneEpoch>& epochs) {
  nlohmann::json out = nlohmann::json::array();
  for (const FinetuneEpoch& e : epochs) {
    out.push_back({{"epoch", e.epoch},
                   {"train_loss", std::isfinite(e.train_loss) ? nlohmann::json(e.train_loss)
                                                              : nlohmann::json()},
                   {"top1", e.top1}, {"top5", e.top5}});
  }
  return out;
}

std::vector<FinetuneEpoch> epochs_from_json(const nlohmann::json& json) {
  std::vector<FinetuneEpoch> out;
  for (const nlohmann::json& e : json) {
    const nlohmann::json& loss = e.at("train_loss");
    out.push_back({e.at("epoch").get<int64_t>(), loss.is_null() ? NAN : loss.get<double>(),
                   e.at("top1").get<double>(), e.at("top5").get<double>()});
  }
  return out;
}

/// Best and last scores of `epochs` into `r`.
void summarize(const std::vector<FinetuneEpoch>& epochs, FinetuneResult& r) {
  r.epochs = epochs;
  for (const FinetuneEpoch& e : epochs) {
    if (r.best_epoch < 0 || e.top1 > r.top1_best) {
      r.top1_best = e.top1;
      r.best_epoch = e.epoch;
    }
    r.top5_best = std::max(r.top5_best, e.top5);
  }
  if (!epochs.empty()) {
    r.top1_last = epochs.back().top1;
    r.top5_last = epochs.back().top5;
  }
}

/// Hits and scored samples of one accuracy pass.
struct AccuracyCounts {
  int64_t top1 = 0, top5 = 0, scored = 0;
};

AccuracyCounts count_accuracy(VitClassifier& classifier, const ImageSource& source,
                              const ChannelStats& stats, int64_t batch_size, int workers,
                              bool bf16, torch::Device device) {
  classifier->eval();
  torch::NoGradGuard no_grad;
  EvalPassOptions pass;
  pass.image_size = classifier->config().encoder.image_size;
  pass.batch_size = batch_size;
  pass.workers = workers;
  AccuracyCounts counts;
  for_each_eval_batch(source, stats, pass, device, [&](const TensorBatch& b) {
    torch::Tensor logits;
    {
      AutocastGuard autocast(device, torch::kBFloat16, bf16);
      logits = classifier->forward(b.images).to(torch::kFloat32);
    }
    torch::Tensor labels = b.labels;
    if (!b.replaced_rows.empty()) {  // a replacement stands in for a bad sample: not scored
      torch::Tensor keep = torch::ones({labels.size(0)}, torch::kBool);
      for (const int64_t row : b.replaced_rows) keep[row] = false;
      keep = keep.to(logits.device());
      logits = logits.index({keep});
      labels = labels.index({keep});
    }
    counts.scored += labels.size(0);
    counts.top1 += count_topk_hits(logits, labels, 1);
    counts.top5 += count_topk_hits(logits, labels, 5);
  });
  return counts;
}

/// The counts of every rank of `group` summed, each rank scoring its contiguous part of `source`.
/// The sum goes through the group's fp32 mean: exact for totals below 2^22.
AccuracyCounts count_accuracy_split(VitClassifier& classifier, const ImageSource& source,
                                    const ChannelStats& stats, int64_t batch_size, int workers,
                                    bool bf16, torch::Device device, DistributedGroup& group) {
  const int64_t n = source.size(), world = group.world_size(), rank = group.rank();
  const int64_t first = rank * n / world, last = (rank + 1) * n / world;
  AccuracyCounts mine;
  if (last > first) {
    std::vector<int64_t> indices(static_cast<size_t>(last - first));
    for (int64_t i = first; i < last; ++i) indices[static_cast<size_t>(i - first)] = i;
    const SubsetImageSource part(source, std::move(indices));
    mine = count_accuracy(classifier, part, stats, batch_size, workers, bf16, device);
  }
  const torch::Tensor sums = torch::tensor(
      {static_cast<double>(mine.top1), static_cast<double>(mine.top5),
       static_cast<double>(mine.scored)}, torch::kFloat32);
  group.average({sums});
  auto total = [&](int64_t i) {
    return static_cast<int64_t>(std::llround(sums[i].item<double>() * static_cast<double>(world)));
  };
  return {total(0), total(1), total(2)};
}

VitClassifier& on_device(VitClassifier& classifier, torch::Device device) {
  classifier->to(device);
  return classifier;
}

class Trainer {
 public:
  Trainer(VitClassifier& classifier, const ImageSource& train, const ImageSource& test,
          const ChannelStats& stats, const FinetuneOptions& o, torch::Device device,
          const nlohmann::json& config)
      : classifier_(on_device(classifier, device)), test_(test), stats_(stats), o_(o),
        device_(device), config_(config),
        world_(o.group != nullptr ? o.group->world_size() : 1),
        rank_(o.group != nullptr ? o.group->rank() : 0),
        main_(rank_ == 0),
        train_(train, sample_indices(train.size(), o.train_images > 0 ? o.train_images
                                                                      : train.size(), o.seed)),
        optimizer_(param_groups_lrd(*classifier, classifier->config().encoder.depth, o.layer_decay),
                   AdamWOptions{0.9, 0.999, 1e-8, o.weight_decay}),
        loader_(train_, loader_options(classifier->config(), stats, o, device)) {
    CM_REQUIRE(steps_per_epoch() > 0, "finetune: '", train.name(), "' has fewer than ",
               o.batch_size * o.accum_steps, " training images (one optimizer step of batch_size ",
               o.batch_size, " x accum_steps ", o.accum_steps, ")");
    if (train_.size() < train.size() && main_) {
      spdlog::info("finetune: training on {} of the {} images of '{}' (finetune.train_images)",
                   train_.size(), train.size(), train.name());
    }
    for (const ImageSource* source : {&train, &test}) {
      CM_REQUIRE(source->num_classes() > 0, "finetune: '", source->name(),
                 "' is unlabeled; fine-tuning needs labels");
    }
    const int64_t classes = classifier->config().num_classes;
    CM_REQUIRE(train.num_classes() <= classes && test.num_classes() <= classes,
               "finetune: the classifier has ", classes, " classes but the data has ",
               std::max(train.num_classes(), test.num_classes()));
    if (o.group != nullptr) o.group->broadcast_from_main(classifier_->parameters());
    config_["provenance"] = finetune_provenance(classifier, train, test, stats, o).to_json();
    config_["classifier"] = to_json(classifier->config());
    config_["stats"] = {{"mean", stats.mean}, {"std", stats.std}};
    if (!o.out_dir.empty() && main_) make_dirs(o.out_dir);
  }

  void resume(const std::string& path) {
    const Checkpoint c = load_checkpoint(path);
    const nlohmann::json recorded = c.info.config.value("provenance", nlohmann::json());
    CM_REQUIRE(recorded.is_object(), path, ": records no provenance, so it cannot be checked ",
               "against the current settings; start over in an empty folder (clustermim: --fresh)");
    const std::string why = Provenance::from_json(config_["provenance"])
                                .describe_mismatch(Provenance::from_json(recorded));
    CM_REQUIRE(why.empty(), path, ": made under other settings (", why, "); start over in an ",
               "empty folder (clustermim: --fresh) or restore those settings to resume");
    restore_model(c, *classifier_);
    restore_optimizer(c, optimizer_);
    position_ = c.info.position;
    saved_step_ = position_.step;
    result_.checkpoint = path;
    skipped_ = c.info.extra.value("skipped_steps", int64_t{0});
    epochs_ = epochs_from_json(c.info.extra.value("epochs", nlohmann::json::array()));
    if (!o_.out_dir.empty() && main_) {
      totals_ = replay_metrics(metrics_path(), position_.step, position_.batch_in_epoch == 0);
    }
    spdlog::info("resumed from {} at step {} (epoch {}, batch {})", path, position_.step,
                 position_.epoch, position_.batch_in_epoch);
  }

  FinetuneResult run() {
    const int64_t per_epoch = steps_per_epoch();
    const int64_t micro_per_epoch = per_epoch * o_.accum_steps;
    const int64_t all = o_.epochs * per_epoch;
    const int64_t total = o_.max_steps > 0 ? std::min(all, o_.max_steps) : all;
    const auto start = std::chrono::steady_clock::now();
    std::optional<Progress> progress;
    std::optional<MetricsWriter> metrics;
    if (main_) progress.emplace("finetune", total, position_.step);
    if (main_ && !o_.out_dir.empty()) metrics.emplace(metrics_path());
    double loss = NAN;
    while (position_.step < total) {
      classifier_->train();
      loader_.start_epoch(position_.epoch, position_.batch_in_epoch);
      while (position_.step < total && position_.batch_in_epoch < micro_per_epoch) {
        const auto t0 = std::chrono::steady_clock::now();
        const StepRecord r = step(per_epoch);
        const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        ++position_.step;
        position_.batch_in_epoch += o_.accum_steps;
        totals_.add_step(r.skipped ? 0.0 : r.loss, 0.0, r.skipped, dt, 0.0);
        log_step(metrics, r, o_.batch_size * o_.accum_steps, dt);
        if (!r.skipped) loss = r.loss;
        if (progress) progress->update(position_.step, "loss " + fixed_digits(loss, 4));
        if (o_.checkpoint_every > 0 && position_.step % o_.checkpoint_every == 0) checkpoint();
      }
      if (position_.batch_in_epoch >= micro_per_epoch) end_epoch();
    }
    totals_.end_epoch();
    // A run resumed at its end writes nothing: rewriting its last checkpoint would change the
    // file that later steps (a round's teacher, cached features) recorded.
    if (position_.step != saved_step_) checkpoint();
    summarize(epochs_, result_);
    result_.steps = position_.step;
    result_.skipped_steps = skipped_;
    result_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result_.train_seconds = totals_.train_seconds;
    if (totals_.train_seconds > 0) {
      result_.images_per_second =
          static_cast<double>(totals_.steps * o_.batch_size * o_.accum_steps) /
          totals_.train_seconds;
    }
    if (progress) {
      progress->finish(result_.epochs.empty()
                           ? std::string("no epoch finished")
                           : "top-1 last " + fixed_percent(result_.top1_last) + ", best " +
                                 fixed_percent(result_.top1_best));
    }
    return result_;
  }

 private:
  static LoaderOptions loader_options(const ClassifierConfig& c, const ChannelStats& stats,
                                      const FinetuneOptions& o, torch::Device device) {
    LoaderOptions lo;
    lo.batch_size = o.batch_size;
    lo.augment = true;
    lo.finetune = o.augment;
    lo.image_size = static_cast<int>(c.encoder.image_size);
    lo.stats = stats;
    lo.seed = o.seed;
    lo.workers = o.workers;
    lo.max_bad_fraction = o.max_bad_fraction;
    lo.uint8_pixels = uint8_batches_for(device);
    if (o.group != nullptr) {
      CM_REQUIRE(o.batch_size % o.group->world_size() == 0, "finetune: batch_size ", o.batch_size,
                 " does not split evenly across ", o.group->world_size(), " processes");
      lo.shard = o.group->rank();
      lo.shards = o.group->world_size();
    }
    return lo;
  }

  static std::string fixed_digits(double value, int digits) {
    char text[32];
    std::snprintf(text, sizeof(text), "%.*f", digits, value);
    return text;
  }
  static std::string fixed_percent(double fraction) { return fixed_digits(100 * fraction, 2) + " %"; }

  std::string metrics_path() const { return o_.out_dir + "/metrics.jsonl"; }

  /// Optimizer steps per epoch: whole groups of accum_steps micro-batches.
  int64_t steps_per_epoch() const { return loader_.batches_per_epoch() / o_.accum_steps; }

  /// One optimizer step over the next accum_steps micro-batches.
  StepRecord step(int64_t per_epoch) {
    optimizer_.zero_grad();
    StepRecord r;
    r.step = position_.step + 1;
    r.epoch = position_.epoch;
    r.loss = 0;
    for (int64_t micro = 0; micro < o_.accum_steps; ++micro) {
      CM_REQUIRE(loader_.next(batch_), "finetune: the epoch ended inside optimizer step ",
                 position_.step);
      r.loss += accumulate(position_.step * o_.accum_steps + micro);
    }
    if (world_ > 1) r.loss = average_across_ranks(r.loss);
    r.grad_norm = clip_grad_norm(optimizer_.params(), o_.clip_grad);
    if (!std::isfinite(r.loss) || !std::isfinite(r.grad_norm)) return skip_step(r);
    consecutive_bad_ = 0;
    const double peak = o_.blr * static_cast<double>(o_.batch_size * o_.accum_steps) / 256.0;
    r.lr = cosine_lr(peak, position_.step, o_.epochs * per_epoch,
                     static_cast<int64_t>(o_.warmup_epochs * per_epoch), o_.min_lr);
    optimizer_.step(r.lr);
    return r;
  }

  /// Forward and backward of the micro-batch in batch_, mixed and drop-pathed by the draws of
  /// micro-batch number `micro` of the run: gradients of its loss / accum_steps are added to the
  /// parameters'. Returns that share of the loss.
  double accumulate(int64_t micro) {
    const TensorBatch b = to_tensors(batch_, device_);
    const uint64_t seed = o_.seed + static_cast<uint64_t>(rank_);  // rank 0: one process's draws
    const MixedBatch mixed = mix_batch(b.images, b.labels, classifier_->config().num_classes,
                                       o_.mixup, seed, micro);
    torch::manual_seed(step_seed(seed, micro));
    torch::Tensor logits;
    {
      AutocastGuard autocast(device_, torch::kBFloat16, o_.bf16);
      logits = classifier_->forward(mixed.images);
    }
    const torch::Tensor loss =
        soft_target_cross_entropy(logits.to(torch::kFloat32), mixed.targets.to(device_)) /
        static_cast<double>(o_.accum_steps);
    loss.backward();
    return loss.item<double>();
  }

  /// Averages the gradients and `loss` over the ranks in one all-reduce (a parameter without a
  /// gradient on this rank takes zeros, so that every rank passes the same tensors); every rank
  /// then takes the same decisions and optimizer step. Returns the mean loss.
  double average_across_ranks(double loss) {
    const torch::Tensor number = torch::tensor({loss});
    std::vector<torch::Tensor> tensors;
    for (const AdamWParam& p : optimizer_.params()) {
      if (!p.value.grad().defined()) p.value.mutable_grad() = torch::zeros_like(p.value);
      tensors.push_back(p.value.grad());
    }
    tensors.push_back(number);
    o_.group->average(tensors);
    return number.item<double>();
  }

  StepRecord skip_step(StepRecord r) {
    r.skipped = true;
    ++skipped_;
    ++consecutive_bad_;
    optimizer_.zero_grad();
    spdlog::warn("step {}: non-finite loss or gradient (loss {}, grad norm {}), step skipped",
                 position_.step, r.loss, r.grad_norm);
    if (consecutive_bad_ >= o_.max_bad_steps) {
      const std::string path = checkpoint();
      fail("finetune: ", consecutive_bad_, " non-finite steps in a row at step ", position_.step,
           "; stopped (checkpoint ", path, "). Lower finetune.blr or set finetune.bf16=false");
    }
    return r;
  }

  /// Scores the finished epoch, records it (finetune.json) and checkpoints at its end.
  void end_epoch() {
    totals_.end_epoch();
    const auto [top1, top5] = classifier_accuracy(classifier_, test_, stats_, o_.eval_batch,
                                                  o_.workers, o_.bf16, device_, o_.group);
    epochs_.push_back({position_.epoch, totals_.last_loss, top1, top5});
    spdlog::info("finetune epoch {}/{}: train loss {:.4f}, top-1 {:.2f} %, top-5 {:.2f} %",
                 position_.epoch + 1, o_.epochs, totals_.last_loss, 100 * top1, 100 * top5);
    ++position_.epoch;
    position_.batch_in_epoch = 0;
    if (!o_.out_dir.empty() && main_) {
      FinetuneResult so_far;
      summarize(epochs_, so_far);
      so_far.steps = position_.step;
      write_file_atomic(o_.out_dir + "/finetune.json", to_json(so_far).dump(2) + "\n");
    }
    checkpoint();
  }

  std::string checkpoint() {
    if (o_.out_dir.empty() || !main_) return "";
    CheckpointInfo info;
    info.position = position_;
    info.config = config_;
    info.extra = {{"skipped_steps", skipped_}, {"epochs", epochs_to_json(epochs_)}};
    result_.checkpoint =
        save_checkpoint(o_.out_dir, *classifier_, &optimizer_, nullptr, info, o_.keep_checkpoints);
    saved_step_ = position_.step;
    return result_.checkpoint;
  }

  void log_step(std::optional<MetricsWriter>& metrics, StepRecord r, int64_t images,
                double seconds) {
    if (!metrics) return;
    if (!std::isfinite(r.loss)) r.loss = NAN;
    if (!std::isfinite(r.grad_norm)) r.grad_norm = NAN;
    r.images_per_second = static_cast<double>(images) / seconds;
    r.step_seconds = seconds;
    try {
      metrics->append(r);
    } catch (const Error& e) {  // a full disk: training goes on, the next checkpoint says more
      spdlog::warn("{}", e.what());
    }
  }

  VitClassifier& classifier_;
  const ImageSource& test_;
  ChannelStats stats_;
  FinetuneOptions o_;
  torch::Device device_;
  nlohmann::json config_;
  int world_;  ///< processes in the data-parallel group (1 = alone)
  int rank_;   ///< this process's rank (0 alone)
  bool main_;  ///< rank 0 (or alone): logs, writes metrics, finetune.json and checkpoints
  SubsetImageSource train_;  ///< the training images used (finetune.train_images)
  AdamW optimizer_;
  BatchLoader loader_;
  Batch batch_;  ///< the micro-batch being trained on
  TrainPosition position_;
  int64_t saved_step_ = -1;  ///< step of the newest checkpoint written or resumed from
  FinetuneResult result_;
  RunTotals totals_;  ///< of the whole run, rebuilt from the metrics file on resume
  std::vector<FinetuneEpoch> epochs_;
  int64_t skipped_ = 0;
  int consecutive_bad_ = 0;
};

}  // namespace

void validate(const FinetuneOptions& o) {
  CM_REQUIRE(o.epochs >= 1 && o.batch_size >= 1 && o.eval_batch >= 1,
             "finetune.epochs, finetune.batch_size and the eval batch must be >= 1");
  CM_REQUIRE(o.accum_steps >= 1, "finetune.accum_steps must be >= 1, got ", o.accum_steps);
  CM_REQUIRE(o.train_images >= 0, "finetune.train_images must be >= 0 (0 = all), got ",
             o.train_images);
  CM_REQUIRE(o.blr > 0 && o.min_lr >= 0 && o.warmup_epochs >= 0 && o.weight_decay >= 0 &&
                 o.clip_grad >= 0,
             "finetune: blr must be > 0; min_lr, warmup_epochs, weight_decay, clip_grad >= 0");
  CM_REQUIRE(o.layer_decay > 0 && o.layer_decay <= 1, "finetune.layer_decay must be in (0, 1], got ",
             o.layer_decay);
  CM_REQUIRE(o.drop_path >= 0 && o.drop_path < 1, "finetune.drop_path must be in [0, 1), got ",
             o.drop_path);
  CM_REQUIRE(o.pooling == "avg" || o.pooling == "cls", "finetune.pooling must be avg or cls, got '",
             o.pooling, "'");
  CM_REQUIRE(o.workers >= 1, "finetune: workers must be >= 1");
  validate(o.augment);
  validate(o.mixup);
}

ClassifierConfig make_classifier_config(const VitConfig& encoder, int64_t num_classes,
                                        const FinetuneOptions& options) {
  ClassifierConfig c;
  c.encoder = encoder;
  c.encoder.drop_path = options.drop_path;
  c.num_classes = num_classes;
  c.pooling = options.pooling;
  return c;
}

nlohmann::json to_json(const FinetuneResult& r) {
  return {{"epochs", epochs_to_json(r.epochs)}, {"top1_best", r.top1_best},
          {"top5_best", r.top5_best}, {"best_epoch", r.best_epoch}, {"top1_last", r.top1_last},
          {"top5_last", r.top5_last}, {"steps", r.steps}, {"skipped_steps", r.skipped_steps},
          {"train_s", r.train_seconds}, {"img_s", r.images_per_second}};
}

std::pair<double, double> classifier_accuracy(VitClassifier& classifier, const ImageSource& source,
                                              const ChannelStats& stats, int64_t batch_size,
                                              int workers, bool bf16, torch::Device device,
                                              DistributedGroup* group) {
  CM_REQUIRE(source.num_classes() > 0, "classifier accuracy: '", source.name(),
             "' is unlabeled; accuracy needs labels");
  const AccuracyCounts c =
      group != nullptr && group->world_size() > 1
          ? count_accuracy_split(classifier, source, stats, batch_size, workers, bf16, device,
                                 *group)
          : count_accuracy(classifier, source, stats, batch_size, workers, bf16, device);
  const double n = static_cast<double>(std::max<int64_t>(1, c.scored));
  return {static_cast<double>(c.top1) / n, static_cast<double>(c.top5) / n};
}

std::pair<double, double> classifier_accuracy(VitClassifier& classifier, const Dataset& dataset,
                                              const ChannelStats& stats, int64_t batch_size,
                                              int workers, bool bf16, torch::Device device) {
  const MemoryImageSource source(dataset);
  return classifier_accuracy(classifier, source, stats, batch_size, workers, bf16, device);
}

Provenance finetune_provenance(VitClassifier& classifier, const ImageSource& train,
                               const ImageSource& test, const ChannelStats& stats,
                               const FinetuneOptions& o) {
  Provenance p;
  p.set_all("classifier", to_json(classifier->config()));
  p.set("init", weights_digest(*classifier));
  p.set("data.train", train.identity());
  p.set("data.test", test.identity());
  p.set_all("stats", nlohmann::json{{"mean", stats.mean}, {"std", stats.std}});
  p.set_all("finetune", nlohmann::json{{"batch_size", o.batch_size},
                                       {"train_images", o.train_images},
                                       {"accum_steps", o.accum_steps}, {"blr", o.blr},
                                       {"min_lr", o.min_lr}, {"warmup_epochs", o.warmup_epochs},
                                       {"layer_decay", o.layer_decay},
                                       {"weight_decay", o.weight_decay},
                                       {"clip_grad", o.clip_grad}, {"bf16", o.bf16},
                                       {"seed", o.seed}});
  const MixupOptions& m = o.mixup;
  p.set_all("mixup", nlohmann::json{{"mixup_alpha", m.mixup_alpha}, {"cutmix_alpha", m.cutmix_alpha},
                                    {"prob", m.prob}, {"switch_prob", m.switch_prob},
                                    {"label_smoothing", m.label_smoothing}});
  const FinetuneAugmentOptions& a = o.augment;
  const RandAugmentOptions& ra = a.rand_augment;
  const RandomErasingOptions& re = a.erasing;
  p.set_all("augment", nlohmann::json{
      {"scale_min", a.crop.scale_min}, {"scale_max", a.crop.scale_max},
      {"ratio_min", a.crop.ratio_min}, {"ratio_max", a.crop.ratio_max}, {"hflip", a.crop.hflip},
      {"rand_augment", {ra.ops, ra.magnitude, ra.magnitude_std, ra.prob, ra.translate_pct, ra.fill}},
      {"erasing", {re.probability, re.min_area, re.max_area, re.min_aspect, re.max_aspect,
                   re.attempts}},
      {"fill_with_mean", a.fill_with_mean}});
  return p;
}

FinetuneResult finetune(VitClassifier& classifier, const ImageSource& train,
                        const ImageSource& test, const ChannelStats& stats,
                        const FinetuneOptions& options, torch::Device device,
                        const nlohmann::json& config, const std::string& resume_from) {
  validate(options);
  Trainer trainer(classifier, train, test, stats, options, device, config);
  if (!resume_from.empty()) trainer.resume(resume_from);
  return trainer.run();
}

FinetuneResult finetune(VitClassifier& classifier, const Dataset& train, const Dataset& test,
                        const ChannelStats& stats, const FinetuneOptions& options,
                        torch::Device device, const nlohmann::json& config,
                        const std::string& resume_from) {
  const MemoryImageSource train_source(train), test_source(test);
  return finetune(classifier, train_source, test_source, stats, options, device, config,
                  resume_from);
}

}  // namespace clustermim
