// Internal: a per-event memo of the JSON body elements that rules reach by key-only path
// prefixes, so that the dozens of pod-spec paths a rule pack reads (spec.containers,
// spec.template.spec.containers, ...) share their lookups instead of each walking from the root.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "json_body.h"
#include "vigil/detect/fields.h"

namespace vigil::detect::internal {

// The key-prefix tree of every body path of a compiled rule set. Built at compile time, then
// immutable (shared by engine clones).
class BodyPathIndex {
 public:
  struct Node {
    int parent = -1;        // -1: the body root
    bool response = false;  // responseObject (else requestObject)
    std::string key;
  };

  // Interns the leading run of key steps of `steps` (the path below requestObject or
  // responseObject). Returns the node of the longest such prefix and sets *consumed to the
  // number of steps it covers; returns -1 (and *consumed = 0) when the path starts with an
  // index or is empty.
  int Intern(bool response, const std::vector<PathStep>& steps, size_t* consumed);

  size_t size() const { return nodes_.size(); }
  const Node& node(int id) const { return nodes_[static_cast<size_t>(id)]; }

 private:
  std::vector<Node> nodes_;
  std::map<std::tuple<bool, int, std::string>, int> ids_;
};

// One worker's memo of resolved nodes, valid for one event (Reset between events). Not
// thread-safe.
class BodyPathMemo {
 public:
  // Forgets every resolved node (O(1) amortised); `nodes` is the index's size.
  void Reset(size_t nodes);

  // The element at `id` of the event whose bodies are `req` / `resp`, or nullptr when a body is
  // absent or undecodable, a step's parent is not an object, or a key is missing (exactly when
  // walking the same keys from the root would yield nothing).
  const simdjson::dom::element* Resolve(const BodyPathIndex& index, int id, LazyBody* req,
                                        LazyBody* resp);

 private:
  struct Entry {
    uint32_t generation = 0;
    bool found = false;
    simdjson::dom::element elem;
  };
  std::vector<Entry> entries_;
  uint32_t generation_ = 0;
};

}  // namespace vigil::detect::internal
