#include "controller/control_key.h"

#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <sys/random.h>

#include <cerrno>
#include <cstring>

namespace bgctl {

namespace {

constexpr size_t kKeyBytes = 32;

std::string Hex(const unsigned char* data, size_t size) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 15];
  }
  return out;
}

bool IsKeyText(const std::string& text) {
  if (text.size() != kKeyBytes * 2) return false;
  for (char c : text)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// 32 bytes from the kernel's random pool (getrandom(2), blocking only
// until the pool is initialized, once per boot).
bool RandomBytes(unsigned char* out, size_t size, std::string* err) {
  size_t got = 0;
  while (got < size) {
    ssize_t n = getrandom(out + got, size - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *err = std::string("getrandom: ") + std::strerror(errno);
      return false;
    }
    got += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

std::string ControlKeyPath(const std::string& state_dir) {
  return state_dir + "/control.key";
}

std::string PreviewTokenPath(const std::string& state_dir) {
  return state_dir + "/preview.token";
}

std::string Sha1Hex(const std::string& data) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
       digest);
  return Hex(digest, sizeof(digest));
}

ControlKey ControlKeyOf(const std::string& key) { return {key, Sha1Hex(key)}; }

bool LoadControlKey(FileSystem* fs, const std::string& state_dir,
                    ControlKey* key, std::string* err) {
  const std::string path = ControlKeyPath(state_dir);
  std::string text, read_err;
  if (!fs->ReadFile(path, &text, &read_err)) {
    *err = "control key " + path + ": " + read_err;
    return false;
  }
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!IsKeyText(text)) {
    *err = "control key " + path +
           ": not a key (64 hex digits expected); `bgctl rotate-key` "
           "writes a new one";
    return false;
  }
  *key = ControlKeyOf(text);
  return true;
}

bool LoadOrCreateControlKey(FileSystem* fs, const std::string& state_dir,
                            ControlKey* key, std::string* err) {
  if (!fs->Exists(ControlKeyPath(state_dir)))
    return CreateControlKey(fs, state_dir, key, err);
  return LoadControlKey(fs, state_dir, key, err);
}

bool NewControlKey(ControlKey* key, std::string* err) {
  unsigned char bytes[kKeyBytes];
  std::string why;
  if (!RandomBytes(bytes, sizeof(bytes), &why)) {
    *err = "cannot make a control key: " + why;
    return false;
  }
  *key = ControlKeyOf(Hex(bytes, sizeof(bytes)));
  return true;
}

bool WriteControlKey(FileSystem* fs, const std::string& state_dir,
                     const ControlKey& key, std::string* err) {
  const std::string path = ControlKeyPath(state_dir);
  std::string why;
  if (fs->WriteFileAtomic(path, key.key + "\n", &why, 0600)) return true;
  *err = "control key " + path + ": " + why;
  return false;
}

bool CreateControlKey(FileSystem* fs, const std::string& state_dir,
                      ControlKey* key, std::string* err) {
  ControlKey made;
  if (!NewControlKey(&made, err) || !WriteControlKey(fs, state_dir, made, err))
    return false;
  *key = made;
  return true;
}

std::string PreviewToken(const ControlKey& key, const std::string& rollout_id) {
  const std::string message = "bgctl preview " + rollout_id;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha1(), key.key.data(), static_cast<int>(key.key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
       digest, &size);
  return Hex(digest, size);
}

}  // namespace bgctl
