#include "controller/slot_runner.h"

#include "controller/process_slot_runner.h"

namespace bgctl {

std::unique_ptr<SlotRunner> MakeSlotRunner(const Config& config, Env env) {
  switch (config.backend.runner) {
    case RunnerKind::kProcess:
      break;
    case RunnerKind::kSystemd:
      return nullptr;  // systemd_slot_runner.cc is not built yet
  }
  return std::make_unique<ProcessSlotRunner>(config, env);
}

}  // namespace bgctl
