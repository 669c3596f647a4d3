#include "engine/model/model_spec.hpp"

#include <sstream>
#include <stdexcept>

#include "engine/job_config.hpp"
#include "engine/job_sections.hpp"

namespace troupe {

activation_kind parse_activation(const std::string& text) {
  if (text == "relu") return activation_kind::relu;
  if (text == "tanh") return activation_kind::tanh;
  if (text == "sigmoid") return activation_kind::sigmoid;
  throw std::invalid_argument("unknown activation '" + text + "' (known: relu, tanh, sigmoid)");
}

std::string to_string(activation_kind a) {
  switch (a) {
    case activation_kind::relu:
      return "relu";
    case activation_kind::tanh:
      return "tanh";
    case activation_kind::sigmoid:
      return "sigmoid";
  }
  return "?";
}

loss_kind parse_loss(const std::string& text) {
  if (text == "softmax" || text == "softmax_cross_entropy") return loss_kind::softmax;
  if (text == "logistic" || text == "binary_logistic") return loss_kind::logistic;
  if (text == "mse" || text == "mean_squared_error") return loss_kind::mse;
  throw std::invalid_argument("unknown loss '" + text + "' (known: softmax, logistic, mse)");
}

std::string to_string(loss_kind l) {
  switch (l) {
    case loss_kind::softmax:
      return "softmax";
    case loss_kind::logistic:
      return "logistic";
    case loss_kind::mse:
      return "mse";
  }
  return "?";
}

int outputs_for(loss_kind l, int classes) {
  return l == loss_kind::softmax ? classes : 1;
}

const std::set<std::string>& model_spec_keys() {
  static const std::set<std::string> keys{"activation", "loss", "hidden"};
  return keys;
}

const std::set<std::string>& validation_spec_keys() {
  static const std::set<std::string> keys{"early_stopping", "keep_best"};
  return keys;
}

using namespace toml_read;

void read_model_spec(const toml::table& t, const std::string& src, job_config& job) {
  std::string text;
  read_string(t, "activation", "model", src, text);
  if (!text.empty()) {
    try {
      job.model.activation = parse_activation(text);
    } catch (const std::invalid_argument& e) {
      bad(src, "model.activation", e.what());
    }
  }
  text.clear();
  read_string(t, "loss", "model", src, text);
  if (!text.empty()) {
    try {
      job.model.loss = parse_loss(text);
    } catch (const std::invalid_argument& e) {
      bad(src, "model.loss", e.what());
    }
  }
  if (const auto* node = t.get("hidden")) {
    if (t.get("layers") != nullptr) {
      bad(src, "model.hidden", "give either layers or hidden (the data then sets both ends)");
    }
    const auto* arr = node->as_array();
    if (arr == nullptr) bad(src, "model.hidden", "expected an array of hidden layer sizes");
    // 0 at either end: the input width and the outputs come from the data.
    job.model.sizes = {0};
    for (const auto& el : *arr) {
      const auto v = integer_of(el);
      if (!v || *v <= 0 || *v > (1 << 24)) {
        bad(src, "model.hidden", "every layer size must be an integer from 1 to 16777216 (2^24)");
      }
      job.model.sizes.push_back(static_cast<int>(*v));
    }
    job.model.sizes.push_back(0);
  }
}

void read_params(const toml::table& t, const std::string& src, job_config& job) {
  for (const auto& [key, node] : t) {
    if (node.is_table() || node.is_array_of_tables()) {
      bad(src, "params." + std::string(key.str()), "expected a value, not a table");
    }
    std::ostringstream text;
    node.visit([&](const auto& v) { text << v; });
    job.params[std::string(key.str())] = text.str();
  }
}

std::string params_toml(const job_config& job) {
  if (job.params.empty()) return {};
  std::string out = "\n[params]\n";
  for (const auto& [key, value] : job.params) out += quote(key) + " = " + value + "\n";
  return out;
}

void read_validation_spec(const toml::table& t, const std::string& src, job_config& job) {
  read_int(t, "early_stopping", "train", src, job.early_stopping, 0, 1000000);
  read_bool(t, "keep_best", "train", src, job.keep_best);
}

}  // namespace troupe
