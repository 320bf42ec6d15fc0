// The lua switch's control key: the secret that lets only this service's
// bgctl move traffic through nginx's control location (nginx/README.md,
// "Who can move traffic"). 32 random bytes from the kernel, kept as 64 hex
// digits in state_dir/control.key (mode 0600, in bgctl's private state
// folder). The upstream file bgctl writes carries only the key's SHA-1
// (ControlKey::hash), never the key; a push carries the key in a header and
// nginx compares the digests. SHA-1 is what Debian's Lua module offers
// (ngx.sha1_bin); for a 256-bit random key only its preimage resistance
// matters, which SHA-1 keeps.
#ifndef BGCTL_CONTROLLER_CONTROL_KEY_H_
#define BGCTL_CONTROLLER_CONTROL_KEY_H_

#include <string>

#include "controller/env.h"

namespace bgctl {

struct ControlKey {
  std::string key;   // 64 lowercase hex digits: the secret
  std::string hash;  // Sha1Hex(key): what the upstream file carries
};

// state_dir/control.key.
std::string ControlKeyPath(const std::string& state_dir);

// Reads the key. A missing file, one that cannot be read, or one that does
// not hold 64 hex digits (and a newline) is an error naming the file:
//   "control key /var/lib/bgctl/demo/control.key: cannot read ...: No such
//   file or directory"
bool LoadControlKey(FileSystem* fs, const std::string& state_dir,
                    ControlKey* key, std::string* err);

// LoadControlKey, or when the file does not exist, a new key written there
// (CreateControlKey). Any other failure to read it is an error, never a new
// key.
bool LoadOrCreateControlKey(FileSystem* fs, const std::string& state_dir,
                            ControlKey* key, std::string* err);

// Writes a new random key to state_dir/control.key (atomically, mode 0600),
// replacing any: `bgctl rotate-key`. False with *err when the kernel gives
// no random bytes or the file cannot be written.
bool CreateControlKey(FileSystem* fs, const std::string& state_dir,
                      ControlKey* key, std::string* err);

// The two halves of CreateControlKey, for `bgctl init`, which renders the
// upstream file with a key before it writes anything: a new random key in
// memory, and `key` written to state_dir/control.key (atomically, 0600).
bool NewControlKey(ControlKey* key, std::string* err);
bool WriteControlKey(FileSystem* fs, const std::string& state_dir,
                     const ControlKey& key, std::string* err);

// The key for a key text (64 hex digits), e.g. in tests.
ControlKey ControlKeyOf(const std::string& key);

// The preview token of a rollout: HMAC-SHA1(key, "bgctl preview " +
// rollout_id) as 40 hex digits. The value the preview header must carry
// to pin a request to that rollout's canary; its Sha1Hex goes into the
// split. A new rollout (a new id) or a new key makes a new token.
std::string PreviewToken(const ControlKey& key, const std::string& rollout_id);

// state_dir/preview.token: where the current rollout's token is written
// (mode 0600) for a person to use.
std::string PreviewTokenPath(const std::string& state_dir);

// Lowercase hex of SHA-1(data): 40 digits.
std::string Sha1Hex(const std::string& data);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_CONTROL_KEY_H_
