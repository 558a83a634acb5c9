// dkim_stage: the `dkim` stage: signs accepted mail on its way out (Phase::kOutbound: after
// every verdict stage, only for mail that will be delivered, and again for a quarantine release).
//
// pipeline.toml:
//   [[stage]]
//   type = "dkim"
//   canonicalization = "relaxed/relaxed"  # header/body: relaxed | simple (default relaxed/relaxed)
//   expire = "7d"                         # optional: x= this long after t=
//   on_bad_from = "accept"                # accept | tag | quarantine | reject: what a message
//                                         # without exactly one From: author domain gets
//   [[stage.key]]
//   domain = "example.test"               # signs mail whose From: domain is this or below it
//   selector = "s1"
//   algorithm = "rsa-sha256"              # rsa-sha256 | ed25519-sha256
//   private_key = "keys/example.test.s1.pem"   # relative to the rules directory
//
// Key choice: the most specific key domain that the From: domain equals or is below wins, and
// every key of that domain signs (rsa and ed25519 side by side, or two selectors during a
// rotation): one DKIM-Signature each. Mail of other domains is left unsigned. A message without
// a From:, with several, or naming several domains in it, is not signed and gets a finding
// (dkim-no-from / dkim-multiple-from) with the action on_bad_from.
//
// Keys are read and checked when the rules directory loads (dkim_key.hpp): a bad key makes the
// directory invalid, reported at the [[stage.key]] that names it.
#pragma once

#include <memory>
#include <vector>

#include "filters/registry.hpp"
#include "signing/dkim_key.hpp"
#include "signing/dkim_signer.hpp"

namespace relayguard::filters {

class DkimStage : public BlockingStage {
 public:
  struct Options {
    signing::SignerOptions signer;
    Action on_bad_from = Action::kAccept;
    std::vector<std::shared_ptr<const signing::DkimKey>> keys;
  };

  explicit DkimStage(Options options);

  static std::unique_ptr<Stage> create(StageConfig& config);

  std::string_view name() const override { return "dkim"; }
  Phase phase() const override { return Phase::kOutbound; }
  StageResult evaluate(const MessageView& message, StageContext& ctx) const override;

  // The whole job (what evaluate() does with the message's bytes).
  StageResult sign(const PagedBytes& message) const;
  // Every configured key, in pipeline.toml order.
  const std::vector<std::shared_ptr<const signing::DkimKey>>& keys() const { return options_.keys; }
  // The keys that sign mail whose author domain is `domain` (empty: none).
  std::vector<const signing::DkimKey*> keysFor(std::string_view domain) const;

 private:
  Options options_;
  signing::DkimSigner signer_;
};

}  // namespace relayguard::filters
