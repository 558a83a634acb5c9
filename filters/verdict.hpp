// verdict: the outcome of the whole pipeline for one message: the strongest stage result, every
// stage's result and findings (the audit record's "stages"), and the header fields to add.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "filters/stage.hpp"

namespace relayguard::filters {

struct StageOutcome {
  std::string stage;
  Action action = Action::kAccept;
  std::vector<Finding> findings;
  std::string error;  // set when the stage failed and on_error decided the action
};

struct Verdict {
  Action action = Action::kAccept;
  std::vector<StageOutcome> stages;
  std::vector<HeaderField> add_headers;

  // The finding that decided the verdict (the first with the verdict's action), or nullptr.
  const Finding* decisive() const;
  // Header fields as wire text ("Name: value\r\n" each).
  std::string headerBlock() const;
  // The audit record's "stages" array: one object per finding ({stage, result, rule, detail})
  // and one {stage, result} object for a stage without findings.
  nlohmann::json stagesJson() const;
};

}  // namespace relayguard::filters
