// What `vigil serve` gives the API's operator endpoints (api/admin.h): the rules of a
// RuleProvider and the health of the live sources, in the api room's own words. Part of the
// `vigil` binary (app's library does not depend on api).
#pragma once

#include <vector>

#include "vigil/api/admin.h"
#include "vigil/app/rules.h"
#include "vigil/ingest/record_source.h"

namespace vigil::app {

// list/reload over `rules` (borrowed; must outlive the router).
api::RuleHooks RuleHooksFor(RuleProvider* rules);

// `source`'s kind and SourceHealth; empty for null (no live source running).
std::vector<api::SourceStatus> SourceStatusOf(const ingest::RecordSource* source);

}  // namespace vigil::app
