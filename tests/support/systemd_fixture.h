// A real systemd for end-to-end tests, booted as PID 1 of a new PID + mount
// namespace with the recipe of PITFALLS.md ("systemd in tests"), in cgroups
// of its own (tests/support/cgroups.h) and its own cgroup, UTS and IPC
// namespaces:
//
//   start.sh CGROUP... -- unshare --cgroup --uts --ipc --pid --fork --mount
//            --mount-proc /bin/sh ROOT/boot.sh ROOT/units
//            (start.sh writes its pid into each CGROUP/cgroup.procs first)
//   boot.sh:  mount --make-rprivate /
//             the cgroup file systems mounted again on a new tmpfs at
//                  /sys/fs/cgroup: their root is now the own cgroups
//             mount --bind ROOT/units /etc/systemd/system   (not the host's)
//             mount -t tmpfs on /run, /tmp and /var/tmp      (BEFORE systemd:
//                                   without them it wipes the host's /tmp)
//             and on /var/log/journal (else every test systemd's journald
//                                   writes the machine's persistent journal)
//             exec setpriv --pdeathsig KILL /lib/systemd/systemd --system
//                  --unit=bgctl-test.target --log-target=null
//
// So several systemds can run at once (TestHosts boots three): each one's
// units, journal and hostname are its own.
//
// bgctl-test.target (written into ROOT/units) wants only journald, so
// nothing of the host starts. The network namespace is shared: nginx and
// load on loopback reach the units' ports from both sides. Commands run
// inside with `nsenter -t PID1 -p -m`. ROOT must be outside /tmp, /run and
// /var/tmp (both sides see it there); TestRoot() makes one under the build
// folder.
//
// Cleanup, also when an assertion fails or the test binary dies: the
// destructor SIGKILLs PID 1 (which ends every process in the namespace, like
// a power cut) and reaps unshare; unshare gets SIGKILL when this thread
// exits (PR_SET_PDEATHSIG), and PID 1 when unshare does (setpriv
// --pdeathsig); then its cgroups are removed. The systemd tests of different
// test processes take turns (SystemdTurn): not for correctness any more
// (see above), but so that their timings do not share two cores.
#ifndef BGCTL_TESTS_SUPPORT_SYSTEMD_FIXTURE_H_
#define BGCTL_TESTS_SUPPORT_SYSTEMD_FIXTURE_H_

#include <string>
#include <vector>

#include "tests/support/process_guard.h"

namespace bgctl::testing {

// The folder for tests that boot systemd: $BGCTL_TEST_ROOT if set, else
// /var/lib/bgctl-tests; made (0700) if missing. Never derived from the build
// folder, so a clone under /tmp works. "" with *err if it cannot be made or
// lies under /tmp, /run or /var/tmp (a booted systemd does not see those).
std::string SystemdTestsRoot(std::string* err);

// A new folder BUILD/systemd-tests/NAME-XXXXXX (outside /tmp), removed with
// everything in it on destruction. path() is empty if it cannot be made.
class TestRoot {
 public:
  explicit TestRoot(const std::string& name);
  ~TestRoot();
  TestRoot(const TestRoot&) = delete;
  TestRoot& operator=(const TestRoot&) = delete;
  const std::string& path() const { return path_; }
  std::string Path(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The machine-wide turn of systemd tests: an flock on
// /run/lock/bgctl-systemd-tests.lock, held from Take() to destruction.
class SystemdTurn {
 public:
  SystemdTurn() = default;
  ~SystemdTurn();
  SystemdTurn(const SystemdTurn&) = delete;
  SystemdTurn& operator=(const SystemdTurn&) = delete;
  // Waits (up to 4 minutes) for the turn. False with *err if it did not come.
  bool Take(std::string* err);

 private:
  int fd_ = -1;
};

class SystemdFixture {
 public:
  // kTake: the fixture takes the machine-wide turn at its first boot and
  // keeps it until destroyed. kHeldByOwner: the owner holds one for several
  // fixtures (TestHosts).
  enum class Turn { kTake, kHeldByOwner };

  // `root`: an absolute folder outside /tmp, /run and /var/tmp. Creates
  // root/units (a test may put its own units there before Boot).
  explicit SystemdFixture(const std::string& root, Turn turn = Turn::kTake);
  // Kill(), then the turn is released.
  ~SystemdFixture();
  SystemdFixture(const SystemdFixture&) = delete;
  SystemdFixture& operator=(const SystemdFixture&) = delete;

  // Why systemd cannot be booted here, or "" when it can: not root, a tool
  // missing (/lib/systemd/systemd, unshare, nsenter, setpriv), namespaces
  // that cannot be made (`unshare --cgroup --uts --ipc --pid --fork --mount
  // true` fails), or a root folder under /tmp, /run or /var/tmp.
  std::string CannotRun() const;
  // The same without the folder check: can any systemd be booted here?
  static std::string CannotRunHere();

  // Start() then WaitUp().
  bool Boot(std::string* err);
  // Starts systemd on root/units and returns at once (several fixtures boot
  // in parallel: Start each, then WaitUp each). Call on the thread that will
  // call Kill(): PID 1 dies with the thread that started it.
  bool Start(std::string* err);
  // Waits (up to 30 s) until `systemctl is-system-running` says running or
  // degraded. False with *err (with the boot log) when it does not, and the
  // namespace is killed.
  bool WaitUp(std::string* err);
  // SIGKILL to PID 1, waits until the namespace is gone and removes its
  // cgroups. Idempotent.
  void Kill();
  // A power cut and a boot on the same files.
  bool Reboot(std::string* err);

  // argv run inside the namespace (nsenter -t PID1 -p -m --wd=CWD ARGV).
  std::vector<std::string> Inside(const std::vector<std::string>& argv,
                                  const std::string& cwd = "/") const;
  // Runs argv inside to completion.
  CommandResult Run(const std::vector<std::string>& argv,
                    int timeout_ms = 60000, const std::string& cwd = "/");
  // `systemctl show UNIT -p PROP --value`, or "" on error.
  std::string Property(const std::string& unit, const std::string& prop);

  bool booted() const { return pid1_ > 0; }
  // PID 1's pid as the host sees it.
  int pid1() const { return pid1_; }
  // The folder bind-mounted on /etc/systemd/system inside.
  std::string unit_dir() const { return root_ + "/units"; }
  std::string boot_log() const { return root_ + "/boot.log"; }

 private:
  bool WriteBootFiles(std::string* err);

  std::string root_;
  Turn turn_;
  SystemdTurn my_turn_;  // taken at the first boot when turn_ is kTake
  std::vector<std::string> cgroups_;  // its own, made at each boot
  int unshare_pid_ = 0;
  int pid1_ = 0;
};

}  // namespace bgctl::testing

#endif  // BGCTL_TESTS_SUPPORT_SYSTEMD_FIXTURE_H_
