// smtp_client_test: the outbound SMTP client against the scripted test server: the transaction
// and its data bytes, per-recipient and session-level results, deadlines, connection reuse.
#include "core/delivery/smtp_client.hpp"

#include <chrono>
#include <cstdlib>
#include <future>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/strand.hpp>
#include <asio/use_future.hpp>
#include <gtest/gtest.h>

#include "tests/support/resident_memory.hpp"
#include "tests/support/scripted_smtp_server.hpp"
#include "tests/support/temp_dir.hpp"

namespace relayguard::delivery {
namespace {

using namespace std::chrono_literals;
using test::ScriptedSmtpPolicy;
using test::ScriptedSmtpServer;

Address mailbox(const std::string& text) {
  return Address::parseMailbox(text).value();
}

ClientSettings testSettings() {
  ClientSettings s;
  s.helo_name = "relay.test";
  s.connect_timeout = 5s;
  s.command_timeout = 5s;
  s.data_timeout = 5s;
  s.idle_reuse = 10s;
  s.max_idle_per_endpoint = 4;
  return s;
}

// The message bytes must outlive the OutboundMessage that points at them.
// The scripted server's default policy with or without PIPELINING, for the tests run both ways.
ScriptedSmtpPolicy offeringPipelining(bool pipelining) {
  ScriptedSmtpPolicy policy;
  if (!pipelining) {
    policy.removeExtension("PIPELINING");
  }
  return policy;
}

OutboundMessage makeMessage(const std::string& data, const std::vector<std::string>& recipients,
                            const std::string& from = "sender@origin.test") {
  OutboundMessage m;
  m.mail_from = mailbox(from);
  for (const auto& r : recipients) {
    m.recipients.push_back(mailbox(r));
  }
  m.data = data;
  return m;
}

class SmtpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 2; ++i) {
      threads_.emplace_back([this] { io_.run(); });
    }
  }

  void TearDown() override {
    guard_.reset();
    io_.stop();
    for (auto& t : threads_) {
      t.join();
    }
  }

  // Runs a coroutine on its own strand of the two-thread io_context and waits for it.
  template <typename T>
  T run(asio::awaitable<T> task) {
    auto future = asio::co_spawn(asio::make_strand(io_), std::move(task), asio::use_future);
    if (future.wait_for(60s) != std::future_status::ready) {
      ADD_FAILURE() << "coroutine did not finish within 60 s";
      std::abort();
    }
    return future.get();
  }

  AttemptResult deliver(SmtpClient& client, const ScriptedSmtpServer& server,
                        const OutboundMessage& message) {
    const net::Endpoint endpoint{"127.0.0.1", server.port()};
    return run(client.deliver(endpoint, message));
  }

  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_{
      io_.get_executor()};
  std::vector<std::thread> threads_;
};

void expectReply(const smtp::Reply& reply, int code, const std::string& enhanced,
                 const std::string& text) {
  EXPECT_EQ(reply.code, code) << reply.oneLine();
  EXPECT_EQ(reply.enhanced, enhanced) << reply.oneLine();
  EXPECT_EQ(reply.text, text) << reply.oneLine();
}

TEST_F(SmtpClientTest, DeliversMessageWithDotStuffingRoundTrip) {
  ScriptedSmtpServer server;
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data =
      ".starts with a dot\r\nSubject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\n"
      "middle . dot\r\nend\r\n";
  const auto message = makeMessage(data, {"one@dest.test", "two@dest.test"});

  const auto result = deliver(client, server, message);

  EXPECT_FALSE(result.session_error.has_value());
  EXPECT_FALSE(result.try_next_host);
  EXPECT_EQ(result.remote, "127.0.0.1:" + std::to_string(server.port()));
  ASSERT_EQ(result.recipient_replies.size(), 2u);
  for (const auto& reply : result.recipient_replies) {
    EXPECT_EQ(reply.code, 250);
    EXPECT_EQ(reply.enhanced, "2.0.0");
    EXPECT_EQ(reply.text, "OK queued as S1-1");
  }
  const auto transactions = server.transactions();
  ASSERT_EQ(transactions.size(), 1u);
  EXPECT_EQ(transactions[0].data, data);
  EXPECT_EQ(transactions[0].mail_from, "sender@origin.test");
  EXPECT_EQ(transactions[0].rcpt_to, (std::vector<std::string>{"one@dest.test", "two@dest.test"}));
  EXPECT_EQ(transactions[0].helo, "relay.test");
  EXPECT_TRUE(transactions[0].esmtp);
}

TEST_F(SmtpClientTest, LargeMessageCrossesChunkBoundariesIntact) {
  ScriptedSmtpServer server;
  SmtpClient client(io_.get_executor(), testSettings());
  std::string data = "Subject: big\r\n\r\n";
  for (int i = 0; data.size() < 300 * 1024; ++i) {
    data += (i % 3 == 0 ? "." : "") + std::string(static_cast<std::size_t>(i % 97), 'x') +
            std::to_string(i) + "\r\n";
  }
  const auto message = makeMessage(data, {"one@dest.test"});

  const auto result = deliver(client, server, message);

  EXPECT_FALSE(result.session_error.has_value());
  const auto transactions = server.transactions();
  ASSERT_EQ(transactions.size(), 1u);
  EXPECT_EQ(transactions[0].data.size(), data.size());
  EXPECT_TRUE(transactions[0].data == data);
}

// A message in a mapped file (a large one from the spool) gives its pages back as it is sent:
// once delivered, the mapping holds about nothing of the 12 MiB.
TEST_F(SmtpClientTest, AMappedMessageGivesItsPagesBackAsItIsSent) {
  ScriptedSmtpServer server;
  SmtpClient client(io_.get_executor(), testSettings());
  std::string data = "Subject: big\r\n\r\n";
  for (int i = 0; data.size() < 12 * 1024 * 1024; ++i) {
    data += (i % 5 == 0 ? ".dot " : "") + std::string(900, 'y') + std::to_string(i) + "\r\n";
  }
  test::TempDir dir;
  const MappedFile file = MappedFile::open(dir.write("big.eml", data));
  auto message = makeMessage("", {"one@dest.test"});
  message.data = PagedBytes(file.bytes(), &file);
  const std::size_t before = test::residentKib("RssFile");

  const auto result = deliver(client, server, message);

  EXPECT_FALSE(result.session_error.has_value());
  EXPECT_LT(test::residentKib("RssFile"), before + 2 * 1024);
  const auto transactions = server.transactions();
  ASSERT_EQ(transactions.size(), 1u);
  EXPECT_TRUE(transactions[0].data == data);
}

TEST_F(SmtpClientTest, AddsMissingFinalCrlf) {
  ScriptedSmtpServer server;
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: no final line end";
  const auto message = makeMessage(data, {"one@dest.test"});

  const auto result = deliver(client, server, message);

  EXPECT_FALSE(result.session_error.has_value());
  const auto transactions = server.transactions();
  ASSERT_EQ(transactions.size(), 1u);
  EXPECT_EQ(transactions[0].data, "Subject: no final line end\r\n");
}

TEST_F(SmtpClientTest, EmptyMessageSendsOnlyTheEndMarker) {
  ScriptedSmtpServer server;
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data;
  const auto message = makeMessage(data, {"one@dest.test"});

  const auto result = deliver(client, server, message);

  EXPECT_FALSE(result.session_error.has_value());
  ASSERT_EQ(result.recipient_replies.size(), 1u);
  EXPECT_EQ(result.recipient_replies[0].code, 250);
  const auto transactions = server.transactions();
  ASSERT_EQ(transactions.size(), 1u);
  EXPECT_EQ(transactions[0].data, "");
  EXPECT_EQ(transactions[0].mail_params, "SIZE=0");
}

TEST_F(SmtpClientTest, BareLineEndsAreNormalisedSoNothingIsSmuggled) {
  ScriptedSmtpServer server;
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: a\r\n\r\nbody\n.\r\nMAIL FROM:<evil@x.test>\r\nend\r.\r\n";
  const auto message = makeMessage(data, {"one@dest.test"});

  const auto result = deliver(client, server, message);

  EXPECT_FALSE(result.session_error.has_value());
  const auto transactions = server.transactions();
  ASSERT_EQ(transactions.size(), 1u);
  EXPECT_EQ(transactions[0].data,
            "Subject: a\r\n\r\nbody\r\n.\r\nMAIL FROM:<evil@x.test>\r\nend\r\n.\r\n");
  EXPECT_EQ(server.commandCount("MAIL"), 1u);
}

TEST_F(SmtpClientTest, SendsSizeAndBodyAndSmtputf8Parameters) {
  ScriptedSmtpServer server;
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  auto message = makeMessage(data, {"one@dest.test"});

  deliver(client, server, message);
  message.body_8bit = true;
  deliver(client, server, message);
  message.smtputf8 = true;
  deliver(client, server, message);

  const auto transactions = server.transactions();
  ASSERT_EQ(transactions.size(), 3u);
  const std::string size = "SIZE=" + std::to_string(data.size());
  EXPECT_EQ(transactions[0].mail_params, size);
  EXPECT_EQ(transactions[1].mail_params, size + " BODY=8BITMIME");
  EXPECT_EQ(transactions[2].mail_params, size + " BODY=8BITMIME SMTPUTF8");
}

TEST_F(SmtpClientTest, OmitsParametersTheServerDoesNotOffer) {
  ScriptedSmtpPolicy policy;
  policy.removeExtension("SIZE");
  policy.removeExtension("8BITMIME");
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  auto message = makeMessage(data, {"one@dest.test"});
  message.body_8bit = true;

  const auto result = deliver(client, server, message);

  EXPECT_FALSE(result.session_error.has_value());
  const auto transactions = server.transactions();
  ASSERT_EQ(transactions.size(), 1u);
  EXPECT_EQ(transactions[0].mail_params, "");
}

class SmtpClientRecipientTest : public SmtpClientTest,
                                public ::testing::WithParamInterface<bool> {};

TEST_P(SmtpClientRecipientTest, ReportsEachRecipientsReply) {
  ScriptedSmtpPolicy policy;
  if (!GetParam()) {
    policy.removeExtension("PIPELINING");
  }
  policy.rcpt_replies["nouser@dest.test"] = "550-5.1.1 no such user\n550 5.1.1 try another one";
  policy.rcpt_replies["busy@dest.test"] = "450 4.2.0 busy";
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message =
      makeMessage(data, {"good@dest.test", "nouser@dest.test", "busy@dest.test", "also@dest.test"});

  const auto result = deliver(client, server, message);

  EXPECT_FALSE(result.session_error.has_value());
  ASSERT_EQ(result.recipient_replies.size(), 4u);
  expectReply(result.recipient_replies[0], 250, "2.0.0", "OK queued as S1-1");
  expectReply(result.recipient_replies[1], 550, "5.1.1", "no such user try another one");
  expectReply(result.recipient_replies[2], 450, "4.2.0", "busy");
  expectReply(result.recipient_replies[3], 250, "2.0.0", "OK queued as S1-1");
  const auto transactions = server.transactions();
  ASSERT_EQ(transactions.size(), 1u);
  EXPECT_EQ(transactions[0].rcpt_to,
            (std::vector<std::string>{"good@dest.test", "also@dest.test"}));
  EXPECT_EQ(transactions[0].rcpt_refused,
            (std::vector<std::string>{"nouser@dest.test", "busy@dest.test"}));
  EXPECT_EQ(transactions[0].data, data);
}

INSTANTIATE_TEST_SUITE_P(Pipelining, SmtpClientRecipientTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& param_info) {
                           return param_info.param ? "Pipelined" : "Sequential";
                         });

TEST_F(SmtpClientTest, ManyRecipientsArePipelinedInGroups) {
  ScriptedSmtpPolicy policy;
  policy.rcpt_reply = [](const std::string& address) {
    return address.starts_with("r1") ? std::string("550 5.1.1 unknown") : std::string();
  };
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: many\r\n\r\nbody\r\n";
  std::vector<std::string> recipients;
  for (int i = 0; i < 250; ++i) {
    recipients.push_back("r" + std::to_string(i) + "@dest.test");
  }
  const auto message = makeMessage(data, recipients);

  const auto result = deliver(client, server, message);

  EXPECT_FALSE(result.session_error.has_value());
  ASSERT_EQ(result.recipient_replies.size(), 250u);
  std::size_t refused = 0;
  for (std::size_t i = 0; i < recipients.size(); ++i) {
    const bool expect_refused = recipients[i].starts_with("r1");
    EXPECT_EQ(result.recipient_replies[i].code, expect_refused ? 550 : 250) << recipients[i];
    refused += expect_refused ? 1 : 0;
  }
  const auto transactions = server.transactions();
  ASSERT_EQ(transactions.size(), 1u);
  EXPECT_EQ(transactions[0].rcpt_to.size(), 250u - refused);
  EXPECT_EQ(server.commandCount("RCPT"), 250u);
}

// With PIPELINING, DATA goes in the recipients' group and the server refuses it (no valid
// recipients); without, it is never sent. Either way no message is transferred, and RSET leaves
// the connection clean for the next one.
TEST_F(SmtpClientTest, AllRecipientsRefusedTransfersNoMessage) {
  for (const bool pipelining : {true, false}) {
    SCOPED_TRACE(pipelining ? "PIPELINING" : "no PIPELINING");
    ScriptedSmtpPolicy policy = offeringPipelining(pipelining);
    const std::map<std::string, std::string> refusals = {
        {"a@dest.test", "550 5.1.1 no such user"}, {"b@dest.test", "451 4.3.0 local problem"}};
    policy.rcpt_replies = refusals;
    ScriptedSmtpServer server(policy);
    SmtpClient client(io_.get_executor(), testSettings());

    const auto result = deliver(
        client, server, makeMessage("Subject: x\r\n\r\nbody\r\n", {"a@dest.test", "b@dest.test"}));

    EXPECT_FALSE(result.session_error.has_value());
    ASSERT_EQ(result.recipient_replies.size(), refusals.size());
    for (std::size_t i = 0; i < refusals.size(); ++i) {
      EXPECT_EQ(result.recipient_replies[i].oneLine(), std::next(refusals.begin(), i)->second);
    }
    EXPECT_EQ(server.commandCount("DATA"), pipelining ? 1u : 0u);
    EXPECT_EQ(server.commandCount("RSET"), 1u);
    EXPECT_TRUE(server.transactions().empty());
    run(client.closeIdle());
  }
}

// A server that drops the connection at the pipelined DATA, after refusing every recipient:
// their refusals stand, and the broken connection is not kept for the next message.
TEST_F(SmtpClientTest, ConnectionLostAtARefusedDataIsNotReused) {
  ScriptedSmtpPolicy policy;
  policy.rcpt_reply = [](const std::string&) { return std::string("550 5.1.1 no such user"); };
  policy.command_hook = [](const std::string& line) {
    return line == "DATA" ? std::string(test::kDisconnect) : std::string();
  };
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), testSettings());
  const auto message = makeMessage("Subject: x\r\n\r\nbody\r\n", {"a@dest.test"});

  const auto first = deliver(client, server, message);
  ASSERT_EQ(first.recipient_replies.size(), 1u);
  expectReply(first.recipient_replies[0], 550, "5.1.1", "no such user");
  deliver(client, server, message);
  EXPECT_EQ(server.connectionCount(), 2u);
  EXPECT_EQ(server.commandCount("RSET"), 0u);
}

// RFC 2920 3.1: a server that answers the pipelined DATA with 354 although it refused every
// recipient gets an empty message (a lone "."), never the message.
TEST_F(SmtpClientTest, DataTakenWithoutRecipientsGetsAnEmptyMessage) {
  ScriptedSmtpPolicy policy;
  policy.rcpt_reply = [](const std::string&) { return std::string("550 5.1.1 no such user"); };
  policy.command_hook = [](const std::string& line) {
    if (line == "DATA") {
      return std::string("354 go ahead");  // wrongly: nobody was accepted
    }
    return line == "." ? std::string("554 5.5.1 no valid recipients") : std::string();
  };
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), testSettings());
  const auto message = makeMessage("Subject: secret\r\n\r\nbody\r\n", {"a@dest.test"});

  const auto result = deliver(client, server, message);

  EXPECT_FALSE(result.session_error.has_value());
  ASSERT_EQ(result.recipient_replies.size(), 1u);
  expectReply(result.recipient_replies[0], 550, "5.1.1", "no such user");
  const auto commands = server.commands();
  const auto data = std::find(commands.begin(), commands.end(), "DATA");
  ASSERT_NE(data, commands.end());
  ASSERT_NE(data + 1, commands.end());
  EXPECT_EQ(*(data + 1), ".");
  EXPECT_EQ(
      std::count_if(commands.begin(), commands.end(),
                    [](const std::string& c) { return c.find("secret") != std::string::npos; }),
      0);
  EXPECT_EQ(server.commandCount("RSET"), 1u);
}

// DATA ends the last pipelined group: after the last RCPT, in the same write, one round trip
// less per message. With 150 recipients (two groups of RCPTs) it goes with the second group.
// Without PIPELINING it waits for the RCPT replies.
TEST_F(SmtpClientTest, DataIsPipelinedWithTheLastRecipients) {
  for (const bool pipelining : {true, false}) {
    SCOPED_TRACE(pipelining ? "PIPELINING" : "no PIPELINING");
    ScriptedSmtpPolicy policy = offeringPipelining(pipelining);
    ScriptedSmtpServer server(policy);
    SmtpClient client(io_.get_executor(), testSettings());
    std::vector<std::string> to;
    for (int i = 0; i < 150; ++i) {
      to.push_back("r" + std::to_string(i) + "@dest.test");
    }
    const auto message = makeMessage("Subject: x\r\n\r\nbody\r\n", to);

    const auto result = deliver(client, server, message);

    EXPECT_FALSE(result.session_error.has_value());
    ASSERT_EQ(server.transactions().size(), 1u);
    EXPECT_EQ(server.transactions()[0].rcpt_to.size(), 150u);
    const auto commands = server.commands();
    const auto reads = server.commandReads();
    const auto data = std::find(commands.begin(), commands.end(), "DATA");
    ASSERT_NE(data, commands.end());
    const auto at = static_cast<std::size_t>(data - commands.begin());
    ASSERT_GT(at, 2u);
    EXPECT_EQ(commands[at - 1], "RCPT TO:<r149@dest.test>");
    EXPECT_EQ(reads[at] == reads[at - 1], pipelining) << reads[at] << " " << reads[at - 1];
    const auto mail = std::find_if(commands.begin(), commands.end(), [](const std::string& c) {
      return c.starts_with("MAIL FROM:");
    });
    ASSERT_NE(mail, commands.end());
    // Not with the first group (MAIL and the first 100 RCPTs).
    EXPECT_NE(reads[at], reads[static_cast<std::size_t>(mail - commands.begin())]);
    run(client.closeIdle());
  }
}

TEST_F(SmtpClientTest, FinalTransientReplyAppliesToAcceptedRecipients) {
  ScriptedSmtpPolicy policy;
  policy.rcpt_replies["bad@dest.test"] = "550 5.1.1 no such user";
  policy.end_of_data_reply = [](const test::ScriptedTransaction&) {
    return std::string("451 4.3.0 try again later");
  };
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message = makeMessage(data, {"ok@dest.test", "bad@dest.test", "ok2@dest.test"});

  const auto result = deliver(client, server, message);

  EXPECT_FALSE(result.session_error.has_value());
  ASSERT_EQ(result.recipient_replies.size(), 3u);
  expectReply(result.recipient_replies[0], 451, "4.3.0", "try again later");
  expectReply(result.recipient_replies[1], 550, "5.1.1", "no such user");
  expectReply(result.recipient_replies[2], 451, "4.3.0", "try again later");
}

TEST_F(SmtpClientTest, FinalPermanentReplyAppliesToAcceptedRecipients) {
  ScriptedSmtpPolicy policy;
  policy.end_of_data_reply = [](const test::ScriptedTransaction& t) {
    return t.data.find("virus") != std::string::npos ? std::string("554 5.7.1 rejected: virus")
                                                     : std::string();
  };
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: x\r\n\r\nvirus inside\r\n";
  const auto message = makeMessage(data, {"a@dest.test", "b@dest.test"});

  const auto result = deliver(client, server, message);

  EXPECT_FALSE(result.session_error.has_value());
  ASSERT_EQ(result.recipient_replies.size(), 2u);
  expectReply(result.recipient_replies[0], 554, "5.7.1", "rejected: virus");
  expectReply(result.recipient_replies[1], 554, "5.7.1", "rejected: virus");
}

TEST_F(SmtpClientTest, UnexpectedIntermediateRepliesNeverCountAsSuccess) {
  ScriptedSmtpPolicy policy;
  policy.rcpt_replies["odd@dest.test"] = "354 go ahead";
  policy.end_of_data_reply = [](const test::ScriptedTransaction&) {
    return std::string("354 more please");
  };
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message = makeMessage(data, {"good@dest.test", "odd@dest.test"});

  const auto result = deliver(client, server, message);

  EXPECT_FALSE(result.session_error.has_value());
  ASSERT_EQ(result.recipient_replies.size(), 2u);
  for (const auto& reply : result.recipient_replies) {
    EXPECT_EQ(reply.code, 451) << reply.oneLine();
    EXPECT_EQ(reply.enhanced, "4.5.0") << reply.oneLine();
    EXPECT_FALSE(reply.positive()) << reply.oneLine();
  }
  EXPECT_NE(result.recipient_replies[1].text.find("RCPT TO"), std::string::npos);
  EXPECT_NE(result.recipient_replies[0].text.find("354 more please"), std::string::npos);
}

TEST_F(SmtpClientTest, MailRefusedIsASessionError) {
  ScriptedSmtpPolicy policy;
  policy.removeExtension("PIPELINING");
  policy.mail_reply = [](const std::string&, const std::string&) {
    return std::string("553 5.7.1 sender not allowed");
  };
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message = makeMessage(data, {"a@dest.test"});

  const auto result = deliver(client, server, message);

  ASSERT_TRUE(result.session_error.has_value());
  expectReply(*result.session_error, 553, "5.7.1", "sender not allowed");
  EXPECT_FALSE(result.try_next_host);
  EXPECT_TRUE(result.recipient_replies.empty());
  EXPECT_EQ(server.commandCount("RCPT"), 0u);
  EXPECT_EQ(server.commandCount("DATA"), 0u);
  EXPECT_EQ(server.commandCount("QUIT"), 1u);
}

TEST_F(SmtpClientTest, PipelinedMailRefusedTransfersNoMessage) {
  ScriptedSmtpPolicy policy;
  policy.mail_reply = [](const std::string&, const std::string&) {
    return std::string("451 4.7.1 greylisted");
  };
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message = makeMessage(data, {"a@dest.test", "b@dest.test"});

  const auto result = deliver(client, server, message);

  ASSERT_TRUE(result.session_error.has_value());
  expectReply(*result.session_error, 451, "4.7.1", "greylisted");
  EXPECT_FALSE(result.try_next_host);
  EXPECT_TRUE(result.recipient_replies.empty());
  EXPECT_TRUE(server.transactions().empty());  // its pipelined DATA was refused (503)
}

TEST_F(SmtpClientTest, DataCommandRefusedIsASessionError) {
  ScriptedSmtpPolicy policy;
  policy.data_reply = "451 4.3.2 not accepting messages now";
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message = makeMessage(data, {"a@dest.test"});

  const auto result = deliver(client, server, message);

  ASSERT_TRUE(result.session_error.has_value());
  expectReply(*result.session_error, 451, "4.3.2", "not accepting messages now");
  EXPECT_FALSE(result.try_next_host);
  EXPECT_TRUE(result.recipient_replies.empty());
  EXPECT_TRUE(server.transactions().empty());
}

TEST_F(SmtpClientTest, ConnectRefusedAllowsNextHost) {
  // A bound socket that does not listen: connecting to its port is refused, and the port cannot
  // be taken by anyone else meanwhile.
  asio::ip::tcp::socket placeholder(io_);
  placeholder.open(asio::ip::tcp::v4());
  placeholder.bind({asio::ip::make_address("127.0.0.1"), 0});
  const auto port = placeholder.local_endpoint().port();
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message = makeMessage(data, {"a@dest.test"});

  const auto result = run(client.deliver(net::Endpoint{"127.0.0.1", port}, message));

  ASSERT_TRUE(result.session_error.has_value());
  EXPECT_EQ(result.session_error->code, 421);
  EXPECT_EQ(result.session_error->enhanced, "4.4.1");
  EXPECT_NE(result.session_error->text.find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << result.session_error->text;
  EXPECT_NE(result.session_error->text.find("refused"), std::string::npos)
      << result.session_error->text;
  EXPECT_TRUE(result.try_next_host);
  EXPECT_TRUE(result.recipient_replies.empty());
  EXPECT_EQ(result.remote, "127.0.0.1:" + std::to_string(port));
}

TEST_F(SmtpClientTest, ResolvesHostNames) {
  ScriptedSmtpServer server;
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message = makeMessage(data, {"a@dest.test"});

  const auto result = run(client.deliver(net::Endpoint{"localhost", server.port()}, message));

  EXPECT_FALSE(result.session_error.has_value())
      << (result.session_error ? result.session_error->oneLine() : "");
  EXPECT_EQ(result.remote, "localhost:" + std::to_string(server.port()));
  EXPECT_EQ(server.transactions().size(), 1u);
}

TEST_F(SmtpClientTest, UnresolvableHostIsAConnectFailure) {
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message = makeMessage(data, {"a@dest.test"});

  const auto result = run(client.deliver(net::Endpoint{"no-such-host.invalid", 25}, message));

  ASSERT_TRUE(result.session_error.has_value());
  EXPECT_EQ(result.session_error->code, 421);
  EXPECT_EQ(result.session_error->enhanced, "4.4.1");
  EXPECT_NE(result.session_error->text.find("no-such-host.invalid"), std::string::npos);
  EXPECT_TRUE(result.try_next_host);
}

TEST_F(SmtpClientTest, PermanentGreetingAllowsNextHost) {
  ScriptedSmtpPolicy policy;
  policy.greeting = "554 5.3.2 no service here";
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message = makeMessage(data, {"a@dest.test"});

  const auto result = deliver(client, server, message);

  ASSERT_TRUE(result.session_error.has_value());
  expectReply(*result.session_error, 554, "5.3.2", "no service here");
  EXPECT_TRUE(result.try_next_host);
  EXPECT_EQ(server.commandCount("EHLO"), 0u);
  EXPECT_EQ(server.commandCount("MAIL"), 0u);
  EXPECT_EQ(server.commandCount("QUIT"), 1u);
}

TEST_F(SmtpClientTest, EhloRefusedFallsBackToHelo) {
  ScriptedSmtpPolicy policy;
  policy.ehlo_reply = "502 5.5.2 EHLO not implemented";
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message = makeMessage(data, {"a@dest.test"});

  const auto result = deliver(client, server, message);

  EXPECT_FALSE(result.session_error.has_value());
  EXPECT_EQ(server.commandCount("HELO"), 1u);
  const auto transactions = server.transactions();
  ASSERT_EQ(transactions.size(), 1u);
  EXPECT_FALSE(transactions[0].esmtp);
  EXPECT_EQ(transactions[0].helo, "relay.test");
  EXPECT_EQ(transactions[0].mail_params, "");  // no SIZE: HELO servers offer no extensions
}

TEST_F(SmtpClientTest, TransientEhloRefusalAllowsNextHost) {
  ScriptedSmtpPolicy policy;
  policy.ehlo_reply = "450 4.7.1 come back later";
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message = makeMessage(data, {"a@dest.test"});

  const auto result = deliver(client, server, message);

  ASSERT_TRUE(result.session_error.has_value());
  expectReply(*result.session_error, 450, "4.7.1", "come back later");
  EXPECT_TRUE(result.try_next_host);
  EXPECT_EQ(server.commandCount("HELO"), 0u);
  EXPECT_EQ(server.commandCount("MAIL"), 0u);
}

TEST_F(SmtpClientTest, HangingServerHitsCommandTimeout) {
  ScriptedSmtpPolicy policy;
  policy.command_hook = test::hangAt("MAIL");
  ScriptedSmtpServer server(policy);
  auto settings = testSettings();
  settings.command_timeout = 1s;
  SmtpClient client(io_.get_executor(), settings);
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message = makeMessage(data, {"a@dest.test"});

  const auto started = std::chrono::steady_clock::now();
  const auto result = deliver(client, server, message);
  const auto elapsed = std::chrono::steady_clock::now() - started;

  ASSERT_TRUE(result.session_error.has_value());
  EXPECT_EQ(result.session_error->code, 421);
  EXPECT_EQ(result.session_error->enhanced, "4.4.2");
  EXPECT_NE(result.session_error->text.find("timed out"), std::string::npos)
      << result.session_error->text;
  EXPECT_NE(result.session_error->text.find("MAIL FROM"), std::string::npos)
      << result.session_error->text;
  EXPECT_FALSE(result.try_next_host);
  EXPECT_GE(elapsed, 900ms);
  EXPECT_LT(elapsed, 4s);
}

TEST_F(SmtpClientTest, SilentGreetingHitsCommandTimeoutAndAllowsNextHost) {
  ScriptedSmtpPolicy policy;
  policy.greeting = std::string(test::kHang);
  ScriptedSmtpServer server(policy);
  auto settings = testSettings();
  settings.command_timeout = 1s;
  SmtpClient client(io_.get_executor(), settings);
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message = makeMessage(data, {"a@dest.test"});

  const auto started = std::chrono::steady_clock::now();
  const auto result = deliver(client, server, message);
  const auto elapsed = std::chrono::steady_clock::now() - started;

  ASSERT_TRUE(result.session_error.has_value());
  EXPECT_EQ(result.session_error->code, 421);
  EXPECT_EQ(result.session_error->enhanced, "4.4.2");
  EXPECT_NE(result.session_error->text.find("greeting"), std::string::npos)
      << result.session_error->text;
  EXPECT_TRUE(result.try_next_host);
  EXPECT_LT(elapsed, 4s);
}

TEST_F(SmtpClientTest, SilenceAfterDataHitsDataTimeout) {
  ScriptedSmtpPolicy policy;
  policy.end_of_data_reply = [](const test::ScriptedTransaction&) {
    return std::string(test::kHang);
  };
  ScriptedSmtpServer server(policy);
  auto settings = testSettings();
  settings.data_timeout = 1s;
  SmtpClient client(io_.get_executor(), settings);
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message = makeMessage(data, {"a@dest.test"});

  const auto started = std::chrono::steady_clock::now();
  const auto result = deliver(client, server, message);
  const auto elapsed = std::chrono::steady_clock::now() - started;

  ASSERT_TRUE(result.session_error.has_value());
  EXPECT_EQ(result.session_error->code, 421);
  EXPECT_EQ(result.session_error->enhanced, "4.4.2");
  EXPECT_NE(result.session_error->text.find("end of DATA"), std::string::npos)
      << result.session_error->text;
  EXPECT_FALSE(result.try_next_host);
  EXPECT_GE(elapsed, 900ms);
  EXPECT_LT(elapsed, 4s);
}

// Writing the message is bounded too: a smart host that stops reading after its 354 leaves the
// client's writes waiting on full socket buffers, and command_timeout, which bounds each chunk of
// the message, ends them (the writes the send buffer takes at once never wait; what follows does).
TEST_F(SmtpClientTest, AServerThatStopsReadingHitsCommandTimeoutWhileSending) {
  ScriptedSmtpPolicy policy;
  policy.stall_in_data = true;
  ScriptedSmtpServer server(policy);
  auto settings = testSettings();
  settings.command_timeout = 1s;
  SmtpClient client(io_.get_executor(), settings);
  std::string data = "Subject: big\r\n\r\n";
  while (data.size() < (32U << 20)) {  // more than loopback's socket buffers hold
    data += std::string(998, 'x') + "\r\n";
  }
  const auto message = makeMessage(data, {"a@dest.test"});

  const auto started = std::chrono::steady_clock::now();
  const auto result = deliver(client, server, message);
  const auto elapsed = std::chrono::steady_clock::now() - started;

  ASSERT_TRUE(result.session_error.has_value());
  EXPECT_EQ(result.session_error->code, 421) << result.session_error->oneLine();
  EXPECT_NE(result.session_error->text.find("sending"), std::string::npos)
      << result.session_error->text;
  EXPECT_GE(elapsed, 900ms);
  EXPECT_LT(elapsed, 4s);
}

TEST_F(SmtpClientTest, ServerClosingMidTransactionIsTransient) {
  ScriptedSmtpPolicy policy;
  policy.command_hook = [](const std::string& line) {
    return line.starts_with("DATA") ? std::string(test::kDisconnect) : std::string();
  };
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message = makeMessage(data, {"a@dest.test"});

  const auto result = deliver(client, server, message);

  ASSERT_TRUE(result.session_error.has_value());
  EXPECT_EQ(result.session_error->code, 421);
  EXPECT_EQ(result.session_error->enhanced, "4.4.2");
  EXPECT_NE(result.session_error->text.find("DATA"), std::string::npos)
      << result.session_error->text;
  EXPECT_FALSE(result.try_next_host);
}

TEST_F(SmtpClientTest, TooManyReplyLinesAreRefused) {
  ScriptedSmtpPolicy policy;
  std::string endless;
  for (int i = 0; i < 150; ++i) {
    endless += "250-line " + std::to_string(i) + "\n";
  }
  endless += "250 done";
  policy.command_hook = [endless](const std::string& line) {
    return line.starts_with("MAIL") ? endless : std::string();
  };
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message = makeMessage(data, {"a@dest.test"});

  const auto result = deliver(client, server, message);

  ASSERT_TRUE(result.session_error.has_value());
  EXPECT_EQ(result.session_error->code, 421);
  EXPECT_NE(result.session_error->text.find("longer than 100 lines"), std::string::npos)
      << result.session_error->text;
  EXPECT_TRUE(server.transactions().empty());
}

TEST_F(SmtpClientTest, OverlongReplyLineIsRefused) {
  ScriptedSmtpPolicy policy;
  policy.command_hook = [](const std::string& line) {
    return line.starts_with("MAIL") ? "250 " + std::string(10000, 'x') : std::string();
  };
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message = makeMessage(data, {"a@dest.test"});

  const auto result = deliver(client, server, message);

  ASSERT_TRUE(result.session_error.has_value());
  EXPECT_EQ(result.session_error->code, 421);
  EXPECT_NE(result.session_error->text.find("longer than 4096 octets"), std::string::npos)
      << result.session_error->text;
}

TEST_F(SmtpClientTest, ReusesIdleConnection) {
  ScriptedSmtpServer server;
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto first = makeMessage(data, {"a@dest.test"});
  const auto second = makeMessage(data, {"b@dest.test"}, "other@origin.test");

  const auto r1 = deliver(client, server, first);
  const auto r2 = deliver(client, server, second);

  EXPECT_FALSE(r1.session_error.has_value());
  EXPECT_FALSE(r2.session_error.has_value());
  EXPECT_EQ(server.connectionCount(), 1u);
  EXPECT_EQ(server.commandCount("EHLO"), 1u);
  EXPECT_EQ(server.commandCount("RSET"), 1u);
  const auto transactions = server.transactions();
  ASSERT_EQ(transactions.size(), 2u);
  EXPECT_EQ(transactions[1].connection, 1u);
  EXPECT_EQ(transactions[1].mail_from, "other@origin.test");
  EXPECT_EQ(transactions[1].rcpt_to, std::vector<std::string>{"b@dest.test"});

  run(client.closeIdle());
  EXPECT_EQ(server.commandCount("QUIT"), 1u);
  // After closeIdle nothing is pooled: the next delivery connects again.
  deliver(client, server, first);
  EXPECT_EQ(server.connectionCount(), 2u);
}

// The liveness probe of a reused connection (RSET) opens the next pipelined group instead of
// costing a round trip of its own; without PIPELINING it still goes alone, before MAIL.
TEST_F(SmtpClientTest, ReusedConnectionSendsItsProbeWithTheNextMail) {
  for (const bool pipelining : {true, false}) {
    SCOPED_TRACE(pipelining ? "PIPELINING" : "no PIPELINING");
    ScriptedSmtpPolicy policy = offeringPipelining(pipelining);
    ScriptedSmtpServer server(policy);
    SmtpClient client(io_.get_executor(), testSettings());
    const auto message = makeMessage("Subject: x\r\n\r\nbody\r\n", {"a@dest.test"});
    deliver(client, server, message);
    const auto second = deliver(client, server, message);
    EXPECT_FALSE(second.session_error.has_value());
    ASSERT_EQ(second.recipient_replies.size(), 1u);
    EXPECT_EQ(second.recipient_replies[0].code, 250);
    EXPECT_EQ(server.connectionCount(), 1u);
    EXPECT_EQ(server.transactions().size(), 2u);
    const auto commands = server.commands();
    const auto reads = server.commandReads();
    const auto rset = std::find(commands.begin(), commands.end(), "RSET");
    ASSERT_NE(rset, commands.end());
    const auto at = static_cast<std::size_t>(rset - commands.begin());
    ASSERT_LT(at + 1, commands.size());
    EXPECT_TRUE(commands[at + 1].starts_with("MAIL FROM:")) << commands[at + 1];
    EXPECT_EQ(reads[at] == reads[at + 1], pipelining) << reads[at] << " " << reads[at + 1];
    run(client.closeIdle());
  }
}

TEST_F(SmtpClientTest, ReconnectsWhenServerClosedIdleConnection) {
  ScriptedSmtpPolicy policy;
  policy.close_after_transactions = 1;
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message = makeMessage(data, {"a@dest.test"});

  const auto r1 = deliver(client, server, message);
  const auto r2 = deliver(client, server, message);

  EXPECT_FALSE(r1.session_error.has_value());
  EXPECT_FALSE(r2.session_error.has_value())
      << (r2.session_error ? r2.session_error->oneLine() : "");
  ASSERT_EQ(r2.recipient_replies.size(), 1u);
  EXPECT_EQ(r2.recipient_replies[0].code, 250);
  EXPECT_EQ(server.connectionCount(), 2u);
  const auto transactions = server.transactions();
  ASSERT_EQ(transactions.size(), 2u);
  EXPECT_EQ(transactions[0].connection, 1u);
  EXPECT_EQ(transactions[1].connection, 2u);
}

TEST_F(SmtpClientTest, ReconnectsWhenRsetFailsOnIdleConnection) {
  ScriptedSmtpPolicy policy;
  policy.rset_reply = "421 4.3.2 shutting down";
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message = makeMessage(data, {"a@dest.test"});

  const auto r1 = deliver(client, server, message);
  const auto r2 = deliver(client, server, message);

  EXPECT_FALSE(r1.session_error.has_value());
  EXPECT_FALSE(r2.session_error.has_value());
  EXPECT_EQ(server.commandCount("RSET"), 1u);
  EXPECT_EQ(server.connectionCount(), 2u);
  EXPECT_EQ(server.transactions().size(), 2u);
}

TEST_F(SmtpClientTest, IdleConnectionExpiresWithQuit) {
  ScriptedSmtpServer server;
  auto settings = testSettings();
  settings.idle_reuse = 1s;
  SmtpClient client(io_.get_executor(), settings);
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message = makeMessage(data, {"a@dest.test"});

  deliver(client, server, message);
  EXPECT_EQ(server.commandCount("QUIT"), 0u);
  EXPECT_TRUE(server.waitForCommands("QUIT", 1, 5000ms));
  deliver(client, server, message);

  EXPECT_EQ(server.connectionCount(), 2u);
  EXPECT_EQ(server.commandCount("RSET"), 0u);
}

TEST_F(SmtpClientTest, PoolKeepsAtMostMaxIdlePerEndpoint) {
  ScriptedSmtpPolicy policy;
  policy.reply_delay = 100ms;  // makes the two deliveries overlap
  ScriptedSmtpServer server(policy);
  auto settings = testSettings();
  settings.max_idle_per_endpoint = 1;
  SmtpClient client(io_.get_executor(), settings);
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message = makeMessage(data, {"a@dest.test"});
  const net::Endpoint endpoint{"127.0.0.1", server.port()};

  auto f1 =
      asio::co_spawn(asio::make_strand(io_), client.deliver(endpoint, message), asio::use_future);
  auto f2 =
      asio::co_spawn(asio::make_strand(io_), client.deliver(endpoint, message), asio::use_future);
  ASSERT_EQ(f1.wait_for(30s), std::future_status::ready);
  ASSERT_EQ(f2.wait_for(30s), std::future_status::ready);
  EXPECT_FALSE(f1.get().session_error.has_value());
  EXPECT_FALSE(f2.get().session_error.has_value());

  EXPECT_EQ(server.connectionCount(), 2u);
  EXPECT_EQ(server.commandCount("QUIT"), 1u);  // the second finished could not be pooled
  run(client.closeIdle());
  EXPECT_EQ(server.commandCount("QUIT"), 2u);
}

TEST_F(SmtpClientTest, ConcurrentDeliveriesFromManyStrands) {
  ScriptedSmtpServer server;
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message = makeMessage(data, {"a@dest.test"});
  const net::Endpoint endpoint{"127.0.0.1", server.port()};

  for (int round = 0; round < 3; ++round) {
    std::vector<std::future<AttemptResult>> futures;
    for (int i = 0; i < 8; ++i) {
      futures.push_back(asio::co_spawn(asio::make_strand(io_), client.deliver(endpoint, message),
                                       asio::use_future));
    }
    for (auto& f : futures) {
      ASSERT_EQ(f.wait_for(30s), std::future_status::ready);
      const auto result = f.get();
      EXPECT_FALSE(result.session_error.has_value())
          << (result.session_error ? result.session_error->oneLine() : "");
    }
  }

  EXPECT_EQ(server.transactions().size(), 24u);
  // Later rounds reuse what earlier rounds pooled (at most 4 kept), so fewer than 24 connections.
  EXPECT_LT(server.connectionCount(), 24u);
  EXPECT_GE(server.commandCount("RSET"), 1u);
}

TEST_F(SmtpClientTest, Smtputf8RequiredButNotOffered) {
  ScriptedSmtpPolicy policy;
  policy.removeExtension("SMTPUTF8");
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  auto message = makeMessage(data, {"a@dest.test"});
  message.smtputf8 = true;

  const auto result = deliver(client, server, message);

  ASSERT_TRUE(result.session_error.has_value());
  EXPECT_EQ(result.session_error->code, 550);
  EXPECT_EQ(result.session_error->enhanced, "5.6.7");
  EXPECT_NE(result.session_error->text.find("SMTPUTF8"), std::string::npos);
  EXPECT_TRUE(result.try_next_host);
  EXPECT_TRUE(result.recipient_replies.empty());
  EXPECT_EQ(server.commandCount("MAIL"), 0u);
  EXPECT_TRUE(server.transactions().empty());
}

TEST_F(SmtpClientTest, NoRecipientsMeansNoConnection) {
  ScriptedSmtpServer server;
  SmtpClient client(io_.get_executor(), testSettings());
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message = makeMessage(data, {});

  const auto result = deliver(client, server, message);

  EXPECT_FALSE(result.session_error.has_value());
  EXPECT_TRUE(result.recipient_replies.empty());
  EXPECT_EQ(server.connectionCount(), 0u);
}

TEST_F(SmtpClientTest, DestroyingClientWithIdleConnectionsClosesThem) {
  ScriptedSmtpServer server;
  const std::string data = "Subject: x\r\n\r\nbody\r\n";
  const auto message = makeMessage(data, {"a@dest.test"});
  {
    SmtpClient client(io_.get_executor(), testSettings());
    deliver(client, server, message);
    EXPECT_EQ(server.openConnections(), 1u);
  }
  for (int i = 0; i < 100 && server.openConnections() != 0; ++i) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(server.openConnections(), 0u);
}

}  // namespace
}  // namespace relayguard::delivery
