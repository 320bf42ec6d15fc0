#include "controller/rotate_key.h"

#include "controller/control_key.h"

namespace bgctl {

ExitCode RotateKey(RolloutContext* ctx, State* state, std::string* err) {
  const Config& cfg = *ctx->config;
  if (cfg.nginx.switch_kind != SwitchKind::kLua)
    return Refuse(ctx, kExitUsage,
                  cfg.path +
                      ": nginx.switch: rotate-key is for the lua switch's "
                      "control key; the reload switch has none",
                  err);
  ControlKey key;
  if (!CreateControlKey(ctx->env.fs, cfg.state_dir, &key, err))
    return Refuse(ctx, kExitFailed, *err, err);
  ctx->out->Event("rotated", "wrote a new control key to " +
                                 ControlKeyPath(cfg.state_dir) +
                                 " (the old one no longer moves traffic once "
                                 "nginx has the new one)");
  // Without a stable version the only split is all traffic on a canary:
  // never made by a key rotation.
  if (state->stable_slot.empty()) {
    ctx->out->Event("rotated",
                    "no stable version yet: the next command that moves "
                    "traffic gives nginx the new key's hash");
    return kExitOk;
  }
  if (SwitchTraffic(ctx, state, state->canary_weight, err) !=
      SwitchOutcome::kConfirmed)
    return Refuse(
        ctx, kExitFailed,
        "the new key is written but nginx does not have it yet: " + *err +
            " (the next command that moves traffic tries "
            "again)",
        err);
  return kExitOk;
}

}  // namespace bgctl
