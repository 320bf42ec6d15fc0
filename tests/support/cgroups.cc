#include "tests/support/cgroups.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "tests/support/e2e.h"
#include "tests/support/temp_dir.h"

namespace bgctl::testing {

namespace {

struct CgroupMount {
  std::string root;        // the hierarchy's folder mounted there
  std::string mountpoint;  // where
  bool v2 = false;
  std::vector<std::string> options;  // super options: controllers, name=...
};

std::vector<std::string> Split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, sep);) out.push_back(part);
  return out;
}

// The cgroup and cgroup2 mounts of /proc/self/mountinfo:
// "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - TYPE SOURCE SUPER".
std::vector<CgroupMount> CgroupMounts() {
  std::vector<CgroupMount> mounts;
  std::stringstream lines(ReadWholeFile("/proc/self/mountinfo"));
  for (std::string line; std::getline(lines, line);) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::vector<std::string> head = Split(line.substr(0, dash), ' ');
    std::vector<std::string> tail = Split(line.substr(dash + 3), ' ');
    if (head.size() < 5 || tail.size() < 3) continue;
    if (tail[0] != "cgroup" && tail[0] != "cgroup2") continue;
    mounts.push_back(
        {head[3], head[4], tail[0] == "cgroup2", Split(tail[2], ',')});
  }
  return mounts;
}

bool HasAll(const std::vector<std::string>& options,
            const std::vector<std::string>& wanted) {
  for (const std::string& w : wanted) {
    bool found = false;
    for (const std::string& o : options) found = found || o == w;
    if (!found) return false;
  }
  return true;
}

// mountpoint + (path relative to the mount's root), or "" when `path` is not
// below it.
std::string FolderOf(const CgroupMount& m, const std::string& path) {
  if (m.root == "/") return path == "/" ? m.mountpoint : m.mountpoint + path;
  if (path == m.root) return m.mountpoint;
  if (path.compare(0, m.root.size() + 1, m.root + "/") == 0)
    return m.mountpoint + path.substr(m.root.size());
  return "";
}

// Removes `dir` and the cgroups below it; false if one is still there.
bool RemoveTree(const std::string& dir) {
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (e->d_type == DT_DIR && name != "." && name != "..")
        RemoveTree(dir + "/" + name);
    }
    closedir(d);
  }
  return rmdir(dir.c_str()) == 0 || errno == ENOENT;
}

}  // namespace

std::vector<std::string> OwnCgroupDirs() {
  std::vector<CgroupMount> mounts = CgroupMounts();
  std::vector<std::string> dirs;
  std::stringstream lines(ReadWholeFile("/proc/self/cgroup"));
  for (std::string line; std::getline(lines, line);) {
    // "ID:CONTROLLERS:PATH"; the cgroup2 hierarchy is "0::PATH".
    size_t a = line.find(':');
    size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    std::vector<std::string> wanted = Split(controllers, ',');
    if (HasAll(wanted, {"cpuset"})) continue;
    for (const CgroupMount& m : mounts) {
      if (m.v2 != controllers.empty() || (!m.v2 && !HasAll(m.options, wanted)))
        continue;
      std::string dir = FolderOf(m, path);
      if (!dir.empty()) {
        dirs.push_back(dir);
        break;
      }
    }
  }
  return dirs;
}

bool MakeChildCgroups(const std::string& name, std::vector<std::string>* made,
                      std::string* err) {
  made->clear();
  std::vector<std::string> parents = OwnCgroupDirs();
  if (parents.empty()) {
    *err = "no cgroup hierarchy is mounted (/proc/self/mountinfo)";
    return false;
  }
  for (const std::string& parent : parents) {
    std::string dir = parent + "/" + name;
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      *err = "cannot make the cgroup " + dir + ": " + std::strerror(errno);
      return false;
    }
    made->push_back(dir);
  }
  return true;
}

bool RemoveCgroups(const std::vector<std::string>& dirs, int timeout_ms) {
  return WaitFor(
      [&] {
        bool all = true;
        for (const std::string& dir : dirs) all = RemoveTree(dir) && all;
        return all;
      },
      timeout_ms);
}

}  // namespace bgctl::testing
