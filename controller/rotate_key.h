// `bgctl rotate-key`: a new control key for the lua switch (control_key.h),
// put into effect with one confirmed reload and a push.
#ifndef BGCTL_CONTROLLER_ROTATE_KEY_H_
#define BGCTL_CONTROLLER_ROTATE_KEY_H_

#include <string>

#include "controller/exit_codes.h"
#include "controller/state.h"
#include "controller/transitions.h"

namespace bgctl {

// Writes a new key to state_dir/control.key (the old one stops working at
// once for anyone who had it), then, when anything runs, makes nginx serve
// the split the state records again (SwitchTraffic with the recorded
// weight): the lua switch finds nginx's loaded file carries the old key's
// hash, migrates it with one confirmed reload keeping its servers, and
// pushes with the new key. Without a stable version nothing is switched:
// the next command that moves traffic does it. kExitUsage on the reload switch;
// kExitFailed (reported) when the key cannot be written or the switch is not
// confirmed (the next command that moves traffic migrates again).
ExitCode RotateKey(RolloutContext* ctx, State* state, std::string* err);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_ROTATE_KEY_H_
