// message_acceptor_test: the Received: header the relay adds to every message.
#include "core/server/message_acceptor.hpp"

#include <gtest/gtest.h>

namespace relayguard {
namespace {

Envelope envelope(const char* ip, std::size_t rcpts) {
  Envelope env;
  env.helo = "client.example.test";
  env.client_ip = ip;
  env.mail_from = *Address::parseMailbox("a@example.test");
  for (std::size_t i = 0; i < rcpts; ++i) {
    env.rcpt_to.push_back(*Address::parseMailbox("r" + std::to_string(i) + "@example.test"));
  }
  env.received = fromUnixSeconds(1'700'000'000);
  return env;
}

TEST(ReceivedHeader, NamesClientHostAndQueueId) {
  const auto h = receivedHeader(envelope("192.0.2.7", 1), "relay.example.test", "ABCDEFGH12345678");
  EXPECT_EQ(h,
            "Received: from client.example.test ([192.0.2.7])\r\n"
            "\tby relay.example.test (relayguard) with ESMTP id ABCDEFGH12345678\r\n"
            "\tfor <r0@example.test>; Tue, 14 Nov 2023 22:13:20 +0000\r\n");
}

TEST(ReceivedHeader, OmitsForWithSeveralRecipientsAndMarksIpv6AndAuth) {
  auto env = envelope("2001:db8::1", 2);
  env.auth_user = "app";
  env.tls = true;
  const auto h = receivedHeader(env, "relay.example.test", "ABCDEFGH12345678");
  EXPECT_NE(h.find("([IPv6:2001:db8::1])"), std::string::npos);
  EXPECT_NE(h.find("with ESMTPSA id"), std::string::npos);
  EXPECT_EQ(h.find("for <"), std::string::npos);
}

}  // namespace
}  // namespace relayguard
