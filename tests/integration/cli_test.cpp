// cli_test: the relayguard command line and process lifecycle: `check` and its error format,
// usage errors, `queue show|delete` against a running relay, SIGTERM handling, and a full spool
// disk (tmpfs, skipped where mounting is not allowed).
#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include "tests/integration/relay_harness.hpp"
#include "tests/support/scripted_smtp_server.hpp"

namespace relayguard::test {
namespace {

using namespace std::chrono_literals;

class CliTest : public IntegrationTest {
 protected:
  CommandResult relayguard(std::vector<std::string> args) {
    return runCommand(relayguardBinary(), args, 20s);
  }
};

TEST_F(CliTest, CheckAcceptsAValidConfig) {
  Relay& relay = makeRelay({});
  const CommandResult r = relay.cli({"check"});
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
  EXPECT_EQ(r.err, "");
}

TEST_F(CliTest, CheckNamesTheUnknownKeyWithLineAndColumn) {
  dir_.write("rules/.keep", "");
  const auto top = dir_.write("top.toml",
                              "# an unknown top-level key on line 4\n"
                              "hostname = \"relay.integ.test\"\n"
                              "spool_dir = \"spool\"\n"
                              "x = 1\n");
  CommandResult r = relayguard({"check", "--config", top.string()});
  EXPECT_EQ(r.exit_status, 1) << r.out << r.err;
  EXPECT_EQ(r.err, top.string() + ":4:1: unknown key 'x'\n");

  const auto nested = dir_.write("nested.toml",
                                 "hostname = \"relay.integ.test\"\n"
                                 "\n"
                                 "[limits]\n"
                                 "max_recipients = 5\n"
                                 "  bogus = 7\n");
  r = relayguard({"check", "--config", nested.string()});
  EXPECT_EQ(r.exit_status, 1) << r.out << r.err;
  EXPECT_EQ(r.err, nested.string() + ":5:3: unknown key 'bogus'\n");

  // serve refuses the same file with the same message and starts nothing.
  r = relayguard({"serve", "--config", nested.string()});
  EXPECT_EQ(r.exit_status, 1) << r.out << r.err;
  EXPECT_NE(r.err.find(nested.string() + ":5:3: unknown key 'bogus'"), std::string::npos) << r.err;
}

TEST_F(CliTest, UsageErrorsExitWithTwo) {
  Relay& relay = makeRelay({});
  const CommandResult no_subcommand = relayguard({});
  EXPECT_EQ(no_subcommand.exit_status, 2) << no_subcommand.err;
  const CommandResult bad_subcommand = relayguard({"frobnicate"});
  EXPECT_EQ(bad_subcommand.exit_status, 2) << bad_subcommand.err;
  const CommandResult bad_flag = relay.cli({"check", "--no-such-flag"});
  EXPECT_EQ(bad_flag.exit_status, 2) << bad_flag.err;
  const CommandResult queue_alone = relay.cli({"queue"});
  EXPECT_EQ(queue_alone.exit_status, 2) << queue_alone.err;
  const CommandResult show_without_id = relay.cli({"queue", "show"});
  EXPECT_EQ(show_without_id.exit_status, 2) << show_without_id.err;
}

TEST_F(CliTest, QueueShowAndDeleteOnARunningRelay) {
  const std::uint16_t smart_port = freeLoopbackPort();  // down until the sink starts
  RelayOptions o;
  o.smart_hosts = {"127.0.0.1:" + std::to_string(smart_port)};
  Relay& relay = startRelay(o);

  const SmtpTransaction doomed =
      relay.send("ops@app.test", {"doomed@ext.test"},
                 makeMessage("ops@app.test", "doomed@ext.test", "to be deleted", "bye\r\n"));
  ASSERT_EQ(doomed.final.code, 250) << doomed.final;
  const std::string id = doomed.queueId();

  const CommandResult show = relay.cli({"queue", "show", id});
  EXPECT_EQ(show.exit_status, 0) << show.err;
  EXPECT_NE(show.out.find(id), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("doomed@ext.test"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("Subject: to be deleted\r\n"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("bye\r\n"), std::string::npos) << show.out;

  // The relay may be in the middle of a (failing) attempt: "busy" is a fair answer then.
  CommandResult del;
  ASSERT_TRUE(waitUntil(
      [&] {
        del = relay.cli({"queue", "delete", id});
        return del.exit_status == 0 || del.err.find("busy") == std::string::npos;
      },
      5s));
  EXPECT_EQ(del.exit_status, 0) << del.out << del.err;
  for (const auto& m : relay.queueList()) {
    EXPECT_NE(m.at("id").get<std::string>(), id) << "deleted message still listed";
  }
  const CommandResult show_deleted = relay.cli({"queue", "show", id});
  EXPECT_EQ(show_deleted.exit_status, 1) << show_deleted.out;
  const CommandResult delete_again = relay.cli({"queue", "delete", id});
  EXPECT_EQ(delete_again.exit_status, 1) << delete_again.out;
  const CommandResult not_an_id = relay.cli({"queue", "delete", "NOTANID"});
  EXPECT_EQ(not_an_id.exit_status, 1) << not_an_id.out << not_an_id.err;
  EXPECT_FALSE(not_an_id.err.empty());

  // The running relay forgot the deleted message too: only the next one is delivered.
  const SmtpTransaction kept =
      relay.send("ops@app.test", {"kept@ext.test"},
                 makeMessage("ops@app.test", "kept@ext.test", "kept", "stays\r\n"));
  ASSERT_EQ(kept.final.code, 250) << kept.final;
  Sink& sink = startSink(smart_port);
  EXPECT_EQ(relay.cli({"queue", "flush"}).exit_status, 0);
  ASSERT_TRUE(sink.waitForMessages(1, 10s));
  ASSERT_TRUE(relay.waitForQueueSize(0, 5s));
  std::this_thread::sleep_for(500ms);
  const auto files = sink.messages();
  ASSERT_EQ(files.size(), 1U);
  EXPECT_NE(files[0].find("Subject: kept\r\n"), std::string::npos) << files[0];
  EXPECT_TRUE(relay.running());
}

TEST_F(CliTest, SigtermOnIdleRelayExitsZero) {
  Relay& relay = startRelay({});
  const auto start = std::chrono::steady_clock::now();
  const auto status = relay.terminate(5s);
  ASSERT_TRUE(status.has_value()) << "still running 5 s after SIGTERM";
  EXPECT_EQ(*status, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_FALSE(canConnect("127.0.0.1", relay.port()));
}

TEST_F(CliTest, SigtermWithOpenSessions) {
  const std::uint16_t smart_port = freeLoopbackPort();  // nothing listens: mail stays queued
  RelayOptions o;
  o.smart_hosts = {"127.0.0.1:" + std::to_string(smart_port)};
  Relay& relay = startRelay(o);

  // One session between RCPT and DATA, one in the middle of the message text.
  auto waiting = relay.client();
  ASSERT_EQ(waiting->command("MAIL FROM:<a@app.test>").code, 250);
  ASSERT_EQ(waiting->command("RCPT TO:<b@ext.test>").code, 250);
  auto in_data = relay.client();
  ASSERT_EQ(in_data->command("MAIL FROM:<c@app.test>").code, 250);
  ASSERT_EQ(in_data->command("RCPT TO:<d@ext.test>").code, 250);
  ASSERT_EQ(in_data->command("DATA").code, 354);
  ASSERT_TRUE(in_data->sendRaw("From: <c@app.test>\r\nSubject: finished after SIGTERM\r\n\r\n"));

  const auto start = std::chrono::steady_clock::now();
  relay.process().signal(SIGTERM);
  const SmtpReply goodbye = waiting->readReply(3s);
  EXPECT_EQ(goodbye.code, 421) << goodbye;
  EXPECT_EQ(goodbye.enhanced(), "4.3.2") << goodbye;
  EXPECT_TRUE(waiting->waitForClose(2s));
  EXPECT_FALSE(canConnect("127.0.0.1", relay.port())) << "still accepting after SIGTERM";

  // The message in progress is either completed and accepted, or refused with 421 4.3.2.
  ASSERT_TRUE(in_data->sendRaw("the end\r\n.\r\n"));
  const SmtpReply end = in_data->readReply(3s);
  ASSERT_TRUE(end.code == 250 || (end.code == 421 && end.enhanced() == "4.3.2")) << end;
  std::string accepted_id;
  if (end.code == 250) {
    accepted_id = end.lines.front().substr(end.lines.front().find_last_of(' ') + 1);
    const SmtpReply after = in_data->readReply(3s);
    EXPECT_EQ(after.code, 421) << after;
    EXPECT_EQ(after.enhanced(), "4.3.2") << after;
  }
  EXPECT_TRUE(in_data->waitForClose(3s));

  const auto status = relay.process().wait(5s);
  ASSERT_TRUE(status.has_value()) << "still running 5 s after SIGTERM";
  EXPECT_EQ(*status, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  // An accepted message is safely in the spool for the next start.
  if (!accepted_id.empty()) {
    const nlohmann::json q = relay.queueList();
    ASSERT_EQ(q.size(), 1U) << q.dump(2);
    EXPECT_EQ(q[0].at("id").get<std::string>(), accepted_id);
  }
}

TEST_F(CliTest, SigtermFinishesInFlightDelivery) {
  // The smart host takes 1.5 s to answer the end of DATA: SIGTERM arrives mid-delivery.
  ScriptedSmtpPolicy policy;
  policy.end_of_data_reply = [](const ScriptedTransaction&) -> std::string {
    std::this_thread::sleep_for(1500ms);
    return "";
  };
  ScriptedSmtpServer smart_host(policy);
  RelayOptions o;
  o.smart_hosts = {smart_host.address()};
  Relay& relay = startRelay(o);
  const SmtpTransaction t =
      relay.send("busy@app.test", {"r@ext.test"},
                 makeMessage("busy@app.test", "r@ext.test", "in flight", "slow\r\n"));
  ASSERT_EQ(t.final.code, 250) << t.final;
  ASSERT_TRUE(smart_host.waitForCommands("DATA", 1, 5s));
  std::this_thread::sleep_for(200ms);  // the message text is on its way
  const auto start = std::chrono::steady_clock::now();
  relay.process().signal(SIGTERM);
  const auto status = relay.process().wait(8s);
  ASSERT_TRUE(status.has_value()) << "still running 8 s after SIGTERM";
  EXPECT_EQ(*status, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  // Finished, not abandoned: delivered once and gone from the spool.
  ASSERT_EQ(smart_host.transactions().size(), 1U);
  EXPECT_TRUE(smart_host.transactions()[0].final_reply.starts_with("250"));
  EXPECT_EQ(relay.queueList(), nlohmann::json::array());
}

TEST_F(CliTest, SigtermWithStalledClientEndsAfterGrace) {
  RelayOptions o;
  o.serve_args = {"--shutdown-grace", "2"};
  Relay& relay = startRelay(o);
  auto stalled = relay.client();
  ASSERT_EQ(stalled->command("MAIL FROM:<slow@app.test>").code, 250);
  ASSERT_EQ(stalled->command("RCPT TO:<slow@ext.test>").code, 250);
  ASSERT_EQ(stalled->command("DATA").code, 354);
  ASSERT_TRUE(stalled->sendRaw("Subject: never finished\r\n"));
  const auto start = std::chrono::steady_clock::now();
  relay.process().signal(SIGTERM);
  const auto status = relay.process().wait(8s);
  ASSERT_TRUE(status.has_value()) << "still running 8 s after SIGTERM with a 2 s grace";
  EXPECT_EQ(*status, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 6s);
  EXPECT_EQ(relay.queueList(), nlohmann::json::array()) << "a half-received message was queued";
}

// Mounts a tmpfs of `size` on `dir` for the life of the object (lazily unmounted at the end).
class TmpfsMount {
 public:
  TmpfsMount(const std::filesystem::path& dir, const std::string& size) : dir_(dir) {
    std::filesystem::create_directories(dir_);
    const std::string options = "size=" + size + ",mode=0700";
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, options.c_str()) == 0) {
      mounted_ = true;
    } else {
      error_ = std::strerror(errno);
    }
  }
  ~TmpfsMount() {
    if (mounted_) {
      ::umount2(dir_.c_str(), MNT_DETACH);
    }
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::filesystem::path dir_;
  bool mounted_ = false;
  std::string error_;
};

// Writes to `path` until the file system says it is full; true if it did.
bool fillDisk(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return errno == ENOSPC;
  }
  const std::string chunk(4096, 'f');
  bool full = false;
  for (int i = 0; i < 100000 && !full; ++i) {
    const ssize_t n = ::write(fd, chunk.data(), chunk.size());
    if (n < 0) {
      full = errno == ENOSPC;
      break;
    }
    if (static_cast<std::size_t>(n) < chunk.size()) {
      // A short write: the next one reports ENOSPC.
      continue;
    }
  }
  ::close(fd);
  return full;
}

TEST_F(CliTest, FullSpoolDiskGivesTemporaryFailure) {
  const auto mount_point = dir_.path() / "tmpfs";
  TmpfsMount tmpfs(mount_point, "256k");
  if (!tmpfs.mounted()) {
    GTEST_SKIP() << "cannot mount a tmpfs on " << mount_point << ": " << tmpfs.error()
                 << " (not root, or a sandbox without CAP_SYS_ADMIN)";
  }
  const std::uint16_t smart_port = freeLoopbackPort();  // nothing listens: mail stays queued
  RelayOptions o;
  o.smart_hosts = {"127.0.0.1:" + std::to_string(smart_port)};
  o.spool_dir = mount_point / "spool";
  Relay& relay = startRelay(o);
  ASSERT_TRUE(fillDisk(mount_point / "filler")) << "the tmpfs never filled up";

  auto c = relay.client();
  std::string body;
  for (int i = 0; i < 40; ++i) {
    body += std::string(100, 'x') + "\r\n";  // 4000 octets: needs a page the tmpfs lacks
  }
  const SmtpTransaction t = c->sendMail(
      "full@app.test", {"r@ext.test"}, makeMessage("full@app.test", "r@ext.test", "no room", body));
  EXPECT_TRUE(t.final.code == 452 || t.final.code == 451) << t.final;
  if (t.final.code == 452) {
    EXPECT_EQ(t.final.enhanced(), "4.3.1") << t.final;
  }
  EXPECT_EQ(c->command("NOOP").code, 250) << "the session did not survive the full disk";
  EXPECT_TRUE(relay.running());
  EXPECT_EQ(relay.queueList(), nlohmann::json::array());

  // With room again the same session queues mail normally.
  std::filesystem::remove(mount_point / "filler");
  const SmtpTransaction again =
      c->sendMail("full@app.test", {"r@ext.test"},
                  makeMessage("full@app.test", "r@ext.test", "room again", "fits\r\n"));
  EXPECT_EQ(again.final.code, 250) << again.final;
  EXPECT_EQ(relay.queueList().size(), 1U);
  relay.kill9();
}

}  // namespace
}  // namespace relayguard::test
