// Key-prefix memo of JSON body paths (see body_paths.h).
#include "body_paths.h"

#include <utility>

namespace vigil::detect::internal {

int BodyPathIndex::Intern(bool response, const std::vector<PathStep>& steps, size_t* consumed) {
  int id = -1;
  size_t i = 0;
  for (; i < steps.size() && steps[i].kind == PathStep::Kind::kKey; ++i) {
    auto [it, inserted] = ids_.try_emplace(std::make_tuple(response, id, steps[i].key),
                                           static_cast<int>(nodes_.size()));
    if (inserted) nodes_.push_back({id, response, steps[i].key});
    id = it->second;
  }
  *consumed = i;
  return id;
}

void BodyPathMemo::Reset(size_t nodes) {
  if (entries_.size() < nodes) entries_.resize(nodes);
  if (++generation_ == 0) {
    for (Entry& e : entries_) e.generation = 0;
    generation_ = 1;
  }
}

const simdjson::dom::element* BodyPathMemo::Resolve(const BodyPathIndex& index, int id,
                                                    LazyBody* req, LazyBody* resp) {
  Entry& entry = entries_[static_cast<size_t>(id)];
  if (entry.generation == generation_) return entry.found ? &entry.elem : nullptr;
  const BodyPathIndex::Node& n = index.node(id);
  const simdjson::dom::element* parent =
      n.parent < 0 ? (n.response ? resp->Get() : req->Get()) : Resolve(index, n.parent, req, resp);
  simdjson::dom::object obj;
  entry.generation = generation_;
  entry.found = parent != nullptr && parent->get_object().get(obj) == simdjson::SUCCESS &&
                obj.at_key(n.key).get(entry.elem) == simdjson::SUCCESS;
  return entry.found ? &entry.elem : nullptr;
}

}  // namespace vigil::detect::internal
