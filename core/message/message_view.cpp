// message_view: lazy, once-only MIME parsing (see message_view.hpp).
#include "core/message/message_view.hpp"

namespace relayguard {

const MimeView& MessageView::mime() const {
  std::call_once(once_,
                 [this] { mime_ = std::make_unique<MimeView>(MimeView::parse(raw_, limits_)); });
  return *mime_;
}

}  // namespace relayguard
