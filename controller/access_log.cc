#include "controller/access_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <type_traits>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace bgctl {

namespace {

// ---------------------------------------------------------------------------
// JSON scanning over [p, end). Parsers return the position after what they
// consumed, or nullptr when the text is not what they expect.

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

inline const char* SkipSpace(const char* p, const char* end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) ++p;
  return p;
}

// The first byte equal to A or B in [p, end), or end. Sixteen bytes at a
// time with SSE2, then eight at a time: a byte equal to c makes (v ^ c) zero
// there, and (x - 0x01..) & ~x & 0x80.. marks the lowest zero byte of x exactly
// (higher marks may be false, lower ones never are).
template <char A, char B>
inline const char* FindEither(const char* p, const char* end) {
#ifdef __SSE2__
  const __m128i va = _mm_set1_epi8(A), vb = _mm_set1_epi8(B);
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const int m = _mm_movemask_epi8(
        _mm_or_si128(_mm_cmpeq_epi8(v, va), _mm_cmpeq_epi8(v, vb)));
    if (m != 0) return p + __builtin_ctz(m);
    p += 16;
  }
#endif
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHighs = 0x8080808080808080ull;
  while (end - p >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    const uint64_t a = v ^ (kOnes * static_cast<uint8_t>(A));
    const uint64_t b = v ^ (kOnes * static_cast<uint8_t>(B));
    const uint64_t m = (((a - kOnes) & ~a) | ((b - kOnes) & ~b)) & kHighs;
    if (m != 0) return p + (__builtin_ctzll(m) >> 3);  // little-endian
    p += 8;
  }
  while (p < end && *p != A && *p != B) ++p;
  return p;
}

// `p` is just after an opening quote; returns the closing quote, or nullptr
// if there is none. A backslash escapes the character after it.
const char* FindStringEnd(const char* p, const char* end) {
  for (;;) {
    p = FindEither<'"', '\\'>(p, end);
    if (p >= end) return nullptr;
    if (*p == '"') return p;
    p += 2;
  }
}

constexpr double kPow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                             1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

inline bool IsDigitAt(const char* p, const char* end) {
  return p < end && static_cast<unsigned char>(*p - '0') < 10;
}

// A JSON number. Up to 15 significant digits without an exponent (all that
// nginx writes) are converted exactly by hand; anything else by from_chars.
inline const char* ParseNumber(const char* p, const char* end, double* out) {
  const char* const start = p;
  const bool negative = p < end && *p == '-';
  if (negative) ++p;
  uint64_t mantissa = 0;
  const char* const int_start = p;
  for (; IsDigitAt(p, end); ++p) mantissa = mantissa * 10 + (*p - '0');
  if (p == int_start) return nullptr;
  int fraction_digits = 0;
  if (p < end && *p == '.') {
    const char* const frac_start = ++p;
    for (; IsDigitAt(p, end); ++p) mantissa = mantissa * 10 + (*p - '0');
    fraction_digits = static_cast<int>(p - frac_start);
    if (fraction_digits == 0) return nullptr;
  }
  const int digits = static_cast<int>(p - int_start) - (fraction_digits > 0);
  if (p < end && (*p == 'e' || *p == 'E')) {
    ++p;
    if (p < end && (*p == '+' || *p == '-')) ++p;
    const char* const exp_start = p;
    while (IsDigitAt(p, end)) ++p;
    if (p == exp_start) return nullptr;
  } else if (digits <= 15) {
    double v = static_cast<double>(mantissa);
    if (fraction_digits > 0) v /= kPow10[fraction_digits];
    *out = negative ? -v : v;
    return p;
  }
  auto [ptr, ec] = std::from_chars(start, p, *out);
  if (ec != std::errc() || ptr != p) return nullptr;
  return p;
}

const char* SkipLiteral(const char* p, const char* end, std::string_view lit) {
  if (static_cast<size_t>(end - p) < lit.size()) return nullptr;
  if (std::memcmp(p, lit.data(), lit.size()) != 0) return nullptr;
  return p + lit.size();
}

// Skips any JSON value; nested objects and arrays are matched by brackets
// only (their insides are not validated).
const char* SkipValue(const char* p, const char* end) {
  if (p >= end) return nullptr;
  switch (*p) {
    case '"': {
      const char* q = FindStringEnd(p + 1, end);
      return q ? q + 1 : nullptr;
    }
    case '{':
    case '[': {
      int depth = 0;
      while (p < end) {
        const char c = *p;
        if (c == '"') {
          const char* q = FindStringEnd(p + 1, end);
          if (q == nullptr) return nullptr;
          p = q + 1;
          continue;
        }
        if (c == '{' || c == '[') {
          ++depth;
        } else if ((c == '}' || c == ']') && --depth == 0) {
          return p + 1;
        }
        ++p;
      }
      return nullptr;
    }
    case 't':
      return SkipLiteral(p, end, "true");
    case 'f':
      return SkipLiteral(p, end, "false");
    case 'n':
      return SkipLiteral(p, end, "null");
    default: {
      double ignored;
      return ParseNumber(p, end, &ignored);
    }
  }
}

enum class Key { kMsec, kPid, kStatus, kRequestTime, kBytesSent, kString };

struct KeySpec {
  std::string_view name;
  Key key;
  std::string_view LogRecord::*field;  // for Key::kString
};

constexpr KeySpec kKeys[] = {
    {"msec", Key::kMsec, nullptr},
    {"pid", Key::kPid, nullptr},
    {"method", Key::kString, &LogRecord::method},
    {"uri", Key::kString, &LogRecord::uri},
    {"status", Key::kStatus, nullptr},
    {"request_time", Key::kRequestTime, nullptr},
    {"upstream_addr", Key::kString, &LogRecord::upstream_addr},
    {"upstream_status", Key::kString, &LogRecord::upstream_status},
    {"upstream_response_time", Key::kString,
     &LogRecord::upstream_response_time},
    {"bytes_sent", Key::kBytesSent, nullptr},
    {"time", Key::kString, &LogRecord::time},
};

// The known key named `name`, or nullptr.
const KeySpec* LookupKey(std::string_view name) {
  for (const KeySpec& k : kKeys) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

// v as an int64_t when it is a whole number in [lo, hi]; false (and *out
// untouched) otherwise, NaN included. The range check comes before the cast:
// converting a double out of int64_t's range is undefined behaviour.
bool WholeInRange(double v, double lo, double hi, int64_t* out) {
  if (!(v >= lo && v <= hi)) return false;
  const int64_t i = static_cast<int64_t>(v);
  if (static_cast<double>(i) != v) return false;
  *out = i;
  return true;
}

// Beyond any pid or byte count, and exactly representable in both types.
constexpr double kMaxCount = 9007199254740992.0;  // 2^53

// Stores a number into the numeric field of `key`; false if out of range.
bool SetNumber(Key key, double v, LogRecord* r) {
  int64_t i = 0;
  switch (key) {
    case Key::kMsec:
      r->msec = v;
      return true;
    case Key::kPid:
      if (!WholeInRange(v, -kMaxCount, kMaxCount, &i)) return false;
      r->pid = i;
      return true;
    case Key::kStatus:
      if (!WholeInRange(v, 0, 999, &i)) return false;
      r->status = static_cast<int>(i);
      return true;
    case Key::kRequestTime:
      r->request_time_s = v;
      return v >= 0;
    case Key::kBytesSent:
      if (!WholeInRange(v, 0, kMaxCount, &i)) return false;
      r->bytes_sent = i;
      return true;
    case Key::kString:
      break;
  }
  return false;
}

// Parses the value of the key `spec` (nullptr: an unknown key) into *r.
const char* ParseValue(const KeySpec* spec, const char* p, const char* end,
                       LogRecord* r) {
  if (spec == nullptr) return SkipValue(p, end);
  if (spec->key == Key::kString) {
    if (p >= end || *p != '"') return nullptr;
    const char* q = FindStringEnd(p + 1, end);
    if (q == nullptr) return nullptr;
    r->*(spec->field) = std::string_view(p + 1, q - p - 1);
    return q + 1;
  }
  double v;
  p = ParseNumber(p, end, &v);
  if (p == nullptr || !SetNumber(spec->key, v, r)) return nullptr;
  return p;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

int HexValue(char c) {
  if (IsDigit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Parses "0".."65535"-style digits; -1 if `s` is empty or not all digits or
// above `max`.
int ParseSmallInt(std::string_view s, int max) {
  if (s.empty() || s.size() > 5) return -1;
  int v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return -1;
    v = v * 10 + (c - '0');
  }
  return v <= max ? v : -1;
}

template <typename Word>
inline bool WordEqual(const char* a, const char* b) {
  Word x, y;
  std::memcpy(&x, a, sizeof(Word));
  std::memcpy(&y, b, sizeof(Word));
  return x == y;
}

// Consumes the literal `lit` at *p. Its size is a constant, so the compare
// becomes a few word compares (the last word may overlap the one before).
template <size_t N>
inline bool Literal(const char** p, const char* end, const char (&lit)[N]) {
  constexpr size_t n = N - 1;
  static_assert(n >= 4, "compared in words");
  if (static_cast<size_t>(end - *p) < n) return false;
  using Word = std::conditional_t<(n >= 8), uint64_t, uint32_t>;
  constexpr size_t w = sizeof(Word);
  for (size_t i = 0; i + w <= n; i += w) {
    if (!WordEqual<Word>(*p + i, lit + i)) return false;
  }
  if (n % w != 0 && !WordEqual<Word>(*p + n - w, lit + n - w)) return false;
  *p += n;
  return true;
}

// The fast path's strings: *p is just after the opening quote (which the
// literal before it included).
inline bool StringAt(const char** p, const char* end, std::string_view* out) {
  const char* const start = *p;
  const char* q = FindEither<'"', '\\'>(start, end);
  if (q < end && *q == '\\') q = FindStringEnd(q, end);  // escapes: slowly
  if (q == nullptr || q >= end) return false;
  *out = std::string_view(start, q - start);
  *p = q + 1;
  return true;
}

// The fast path's numbers. The line is known to end in '}', which stops
// every digit loop, so they need no end check.
inline const char* DigitsBeforeSentinel(const char* p, uint64_t* value) {
  uint64_t v = *value;
  for (; static_cast<unsigned char>(*p - '0') < 10; ++p)
    v = v * 10 + (*p - '0');
  *value = v;
  return p;
}

// [0-9]+ or [0-9]+.[0-9]+ with at most 15 digits and no exponent, or
// nullptr (ParseNumber then decides).
inline const char* QuickNumber(const char* p, double* out, bool* integral) {
  const char* const start = p;
  uint64_t m = 0;
  p = DigitsBeforeSentinel(p, &m);
  if (p == start) return nullptr;
  int fraction_digits = 0;
  if (*p == '.') {
    const char* const frac_start = ++p;
    p = DigitsBeforeSentinel(p, &m);
    fraction_digits = static_cast<int>(p - frac_start);
    if (fraction_digits == 0) return nullptr;
  }
  const int digits = static_cast<int>(p - start) - (fraction_digits > 0);
  if (*p == 'e' || *p == 'E' || digits > 15) return nullptr;
  double v = static_cast<double>(m);
  if (fraction_digits > 0) v /= kPow10[fraction_digits];
  *out = v;
  *integral = fraction_digits == 0;
  return p;
}

template <Key kKey>
inline bool NumberAt(const char** p, const char* end, LogRecord* r) {
  constexpr bool kDecimal = kKey == Key::kMsec || kKey == Key::kRequestTime;
  double v;
  bool integral;
  const char* q = QuickNumber(*p, &v, &integral);
  if (q != nullptr && (kDecimal || integral) &&
      (kKey != Key::kStatus || v <= 999)) {
    // Never negative, integral where it must be: stored as is.
    if constexpr (kKey == Key::kMsec) r->msec = v;
    if constexpr (kKey == Key::kRequestTime) r->request_time_s = v;
    if constexpr (kKey == Key::kStatus) r->status = static_cast<int>(v);
    if constexpr (kKey == Key::kPid) r->pid = static_cast<int64_t>(v);
    if constexpr (kKey == Key::kBytesSent) {
      r->bytes_sent = static_cast<int64_t>(v);
    }
    *p = q;
    return true;
  }
  q = ParseNumber(*p, end, &v);  // exponents, negatives, long numbers
  if (q == nullptr || !SetNumber(kKey, v, r)) return false;
  *p = q;
  return true;
}

// The fast path: the line has exactly the shipped format's key order and no
// whitespace. False (with *r partly filled) for anything else.
bool ParseInFormatOrder(const char* p, const char* end, LogRecord* r) {
  if (p == end || end[-1] != '}') return false;  // NumberAt's sentinel
  return Literal(&p, end, R"({"msec":)") && NumberAt<Key::kMsec>(&p, end, r) &&
         Literal(&p, end, R"(,"pid":)") && NumberAt<Key::kPid>(&p, end, r) &&
         Literal(&p, end, R"(,"method":")") && StringAt(&p, end, &r->method) &&
         Literal(&p, end, R"(,"uri":")") && StringAt(&p, end, &r->uri) &&
         Literal(&p, end, R"(,"status":)") &&
         NumberAt<Key::kStatus>(&p, end, r) &&
         Literal(&p, end, R"(,"request_time":)") &&
         NumberAt<Key::kRequestTime>(&p, end, r) &&
         Literal(&p, end, R"(,"upstream_addr":")") &&
         StringAt(&p, end, &r->upstream_addr) &&
         Literal(&p, end, R"(,"upstream_status":")") &&
         StringAt(&p, end, &r->upstream_status) &&
         Literal(&p, end, R"(,"upstream_response_time":")") &&
         StringAt(&p, end, &r->upstream_response_time) &&
         Literal(&p, end, R"(,"bytes_sent":)") &&
         NumberAt<Key::kBytesSent>(&p, end, r) &&
         Literal(&p, end, R"(,"time":")") && StringAt(&p, end, &r->time) &&
         end - p == 1 && *p == '}';
}

}  // namespace

bool ParseLogLine(std::string_view line, LogRecord* out) {
  const char* p = line.data();
  const char* const end = p + line.size();
  // The fast path sets every field when it succeeds.
  if (ParseInFormatOrder(p, end, out)) return true;
  // Any key order, whitespace, unknown keys.
  *out = LogRecord();
  bool have_status = false, have_time = false, have_addr = false;
  p = SkipSpace(p, end);
  if (p >= end || *p != '{') return false;
  ++p;
  for (;;) {
    p = SkipSpace(p, end);
    if (p >= end || *p != '"') return false;
    const char* key_end = FindStringEnd(p + 1, end);
    if (key_end == nullptr) return false;
    const KeySpec* key = LookupKey(std::string_view(p + 1, key_end - p - 1));
    p = SkipSpace(key_end + 1, end);
    if (p >= end || *p != ':') return false;
    p = ParseValue(key, SkipSpace(p + 1, end), end, out);
    if (p == nullptr) return false;
    have_status |= key != nullptr && key->key == Key::kStatus;
    have_time |= key != nullptr && key->key == Key::kRequestTime;
    have_addr |= key != nullptr && key->field == &LogRecord::upstream_addr;
    p = SkipSpace(p, end);
    if (p >= end) return false;
    if (*p == '}') break;
    if (*p != ',') return false;
    ++p;
  }
  p = SkipSpace(p + 1, end);
  return p == end && have_status && have_time && have_addr;
}

std::string JsonUnescape(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c != '\\' || i + 1 >= raw.size()) {
      out.push_back(c);
      continue;
    }
    const char e = raw[i + 1];
    constexpr std::string_view kFrom = "\"\\/bfnrt";
    constexpr std::string_view kTo = "\"\\/\b\f\n\r\t";
    if (const size_t k = kFrom.find(e); k != std::string_view::npos) {
      out.push_back(kTo[k]);
      ++i;
      continue;
    }
    if (e == 'u' && i + 5 < raw.size()) {
      uint32_t cp = 0;
      bool ok = true;
      for (size_t k = i + 2; k < i + 6; ++k) {
        const int h = HexValue(raw[k]);
        ok &= h >= 0;
        cp = cp * 16 + (h < 0 ? 0 : h);
      }
      if (ok) {
        AppendUtf8(cp, &out);
        i += 5;
        continue;
      }
    }
    out.push_back(c);  // a malformed escape: keep it as written
  }
  return out;
}

bool UpstreamList::Next(std::string_view* entry) {
  for (;;) {
    size_t start = 0;
    while (start < rest_.size() && rest_[start] == ' ') ++start;
    rest_.remove_prefix(start);
    if (rest_.empty()) return false;
    size_t sep = 0;
    for (; sep < rest_.size(); ++sep) {
      const char c = rest_[sep];
      if (c == ',' || (c == ':' && sep > 0 && rest_[sep - 1] == ' ')) break;
    }
    std::string_view e = rest_.substr(0, sep);
    rest_.remove_prefix(sep < rest_.size() ? sep + 1 : sep);
    while (!e.empty() && e.back() == ' ') e.remove_suffix(1);
    if (e.empty()) continue;  // "a, , b": nothing between two separators
    *entry = e;
    return true;
  }
}

int UpstreamPort(std::string_view entry) {
  // Up to five digits at the end, right after a ':'.
  size_t i = entry.size();
  int port = 0, scale = 1;
  while (i > 0 && entry.size() - i < 6 && IsDigit(entry[i - 1])) {
    port += (entry[i - 1] - '0') * scale;
    scale *= 10;
    --i;
  }
  if (i == entry.size() || i == 0 || entry[i - 1] != ':') return 0;
  if (entry.size() - i > 5 || port > 65535) return 0;
  return port;
}

std::string_view LastUpstreamEntry(std::string_view list) {
  // Most lists are one entry: no separator, and so no space to trim.
  const char* const end = list.data() + list.size();
  if (FindEither<',', ' '>(list.data(), end) == end) return list;
  size_t i = list.size();
  while (i > 0) {
    const char c = list[i - 1];
    if (c == ',' || (c == ':' && i >= 2 && list[i - 2] == ' ')) break;
    --i;
  }
  std::string_view last = list.substr(i);
  while (!last.empty() && last.front() == ' ') last.remove_prefix(1);
  while (!last.empty() && last.back() == ' ') last.remove_suffix(1);
  if (!last.empty() || i == 0) return last;
  // Nothing after the last separator ("a, "): the last non-empty entry.
  UpstreamList entries(list);
  std::string_view entry;
  while (entries.Next(&entry)) last = entry;
  return last;
}

int LastUpstreamPort(std::string_view upstream_addr) {
  return UpstreamPort(LastUpstreamEntry(upstream_addr));
}

int LastUpstreamStatus(std::string_view upstream_status) {
  const int status = ParseSmallInt(LastUpstreamEntry(upstream_status), 999);
  return status > 0 ? status : 0;
}

}  // namespace bgctl
