// FunctionRef: a non-owning, non-allocating reference to a callable, for callbacks on the hot
// path (std::function may allocate and adds an indirection we do not need).
#pragma once

#include <type_traits>
#include <utility>

namespace vigil::ingest {

template <typename Fn>
class FunctionRef;

// The referenced callable must outlive the FunctionRef (pass lambdas directly as arguments).
template <typename R, typename... Args>
class FunctionRef<R(Args...)> {
 public:
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, FunctionRef> &&
                                                    std::is_invocable_r_v<R, F&, Args...>>>
  FunctionRef(F&& f) noexcept  // NOLINT: implicit by design
      : obj_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* obj, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(obj))(std::forward<Args>(args)...);
        }) {}

  R operator()(Args... args) const { return call_(obj_, std::forward<Args>(args)...); }

 private:
  void* obj_;
  R (*call_)(void*, Args...);
};

}  // namespace vigil::ingest
