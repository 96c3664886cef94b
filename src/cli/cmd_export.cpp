/*
 * `clustermim export`: a pretrained encoder as timm-named safetensors, for the PyTorch ecosystem.
 */
#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/context.h"
#include "core/error.h"
#include "models/checkpoint_file.h"
#include "models/vit_weights.h"

namespace clustermim {

namespace {

struct ExportArgs {
  std::string checkpoint;
  std::string format = "safetensors";
  std::string out;
};

void run_export(const ExportArgs& args, const GlobalOptions& global) {
  apply_global_options(global);
  CM_REQUIRE(args.format == "safetensors", "--format: only 'safetensors' is supported, got '",
             args.format, "'");
  const Checkpoint checkpoint = load_checkpoint(args.checkpoint);
  MimModel model = load_model(checkpoint);
  save_encoder_safetensors(model->encoder(), checkpoint_model_spec(checkpoint).stats, args.out);
  const VitConfig& c = model->encoder()->config();
  std::cout << "wrote the encoder of " << args.checkpoint << " to " << args.out
            << " (timm VisionTransformer names, float32)\nload it in Python with:\n"
            << "  import timm, safetensors.torch\n"
            << "  m = timm.create_model('vit_tiny_patch16_224', pretrained=False, num_classes=0,\n"
            << "      img_size=" << c.image_size << ", patch_size=" << c.patch_size
            << ", in_chans=" << c.in_chans << ", embed_dim=" << c.dim << ", depth=" << c.depth
            << ", num_heads=" << c.heads << ", mlp_ratio=" << c.mlp_ratio << ")\n"
            << "  m.load_state_dict(safetensors.torch.load_file('" << args.out
            << "'), strict=True)\n";
}

}  // namespace

void register_export_command(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<ExportArgs>();
  CLI::App* cmd = app.add_subcommand("export", "Export a pretrained encoder (timm-named safetensors)");
  cmd->add_option("--checkpoint", args->checkpoint, "Checkpoint (.cmck) of `pretrain`")->required();
  cmd->add_option("--format", args->format, "Output format")->capture_default_str();
  cmd->add_option("-o,--out", args->out, "File to write (.safetensors)")->required();
  cmd->callback([args, &global] { run_export(*args, global); });
}

}  // namespace clustermim
