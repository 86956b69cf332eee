// layer_utils.hpp: what the dlib networks share: recognising layer types in visitors, counting
// trainable parameters, and the contract's initialisation written into allocated parameters.
#pragma once

#include <dlib/dnn.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>

namespace jbdlib {

template <class T>
struct IsFc : std::false_type {};
template <unsigned long N, dlib::fc_bias_mode M>
struct IsFc<dlib::fc_<N, M>> : std::true_type {};

/// Trainable parameters: every computational layer's parameter tensor (batch norm's running
/// statistics are not in it).
template <class Net>
long count_parameters(Net& net) {
  long count = 0;
  dlib::visit_computational_layers(net,
                                   [&](auto& layer) { count += static_cast<long>(layer.get_layer_params().size()); });
  return count;
}

inline void fill_normal(float* values, std::size_t count, double std_dev, dlib::rand& random) {
  for (std::size_t i = 0; i < count; ++i) values[i] = static_cast<float>(std_dev * random.get_random_gaussian());
}

/// He (Kaiming) normal, fan-in, gain sqrt(2).
inline void fill_he_normal(float* values, std::size_t count, std::size_t fan_in, dlib::rand& random) {
  fill_normal(values, count, std::sqrt(2.0 / static_cast<double>(fan_in)), random);
}

/// He normal weights and zero biases for an allocated fc_ layer, whose parameters are
/// [inputs + 1 (the bias row), outputs].
template <class Fc>
void initialise_fc(Fc& layer, dlib::rand& random) {
  dlib::tensor& params = layer.get_layer_params();
  const std::size_t outputs = layer.get_num_outputs();
  const std::size_t inputs = params.size() / outputs - 1;
  fill_he_normal(params.host(), inputs * outputs, inputs, random);
  std::fill(params.host() + inputs * outputs, params.host() + params.size(), 0.0f);
}

}  // namespace jbdlib
