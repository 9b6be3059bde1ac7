// The self-signed certificate the CLI makes for `capture --transport mqtts|wss`, for the tests' servers too.
#pragma once

#include "../../cli/analysis/self_signed.hpp"

namespace mqttauth::test {
using mqttauth::cli::write_self_signed;
}  // namespace mqttauth::test
