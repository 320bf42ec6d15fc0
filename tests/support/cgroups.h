// Cgroups of their own for the test systemds (tests/support/systemd_fixture.h).
//
// A systemd booted as PID 1 of a new PID + mount namespace still sees the
// machine's cgroup hierarchies: it puts itself in /init.scope and its units
// in /system.slice/NAME.service at their roots, so two of them at once share
// those cgroups (a unit's TasksCurrent counted the other host's processes
// here), and they leave the cgroup of the test that started them. Instead the
// fixture makes a child cgroup of its own in every hierarchy, moves the
// future PID 1 into it and gives it a new cgroup namespace rooted there
// (unshare --cgroup): that systemd's "/" is the child, and nothing it does
// reaches another systemd's cgroups or the machine's.
#ifndef BGCTL_TESTS_SUPPORT_CGROUPS_H_
#define BGCTL_TESTS_SUPPORT_CGROUPS_H_

#include <string>
#include <vector>

namespace bgctl::testing {

// For every cgroup hierarchy mounted here (the cgroup2 one and each v1
// hierarchy), the folder of this process's own cgroup in it, e.g.
// /sys/fs/cgroup/memory/process_api/abc, read from /proc/self/cgroup and
// /proc/self/mountinfo. cpuset is left out: a new cpuset cgroup has no CPU
// until it is configured, and systemd never uses it on v1.
std::vector<std::string> OwnCgroupDirs();

// Makes `name` (one path component) below each of OwnCgroupDirs() (one left
// over is used again). *made lists the folders, also on failure; false with
// *err naming the folder that could not be made.
bool MakeChildCgroups(const std::string& name, std::vector<std::string>* made,
                      std::string* err);

// Removes each folder and every cgroup below it, deepest first (rmdir: a
// cgroup's control files go with it). A cgroup whose processes are still
// exiting is tried again for up to timeout_ms. False if any is left.
bool RemoveCgroups(const std::vector<std::string>& dirs, int timeout_ms);

}  // namespace bgctl::testing

#endif  // BGCTL_TESTS_SUPPORT_CGROUPS_H_
