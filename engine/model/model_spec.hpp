#pragma once
// What a job file can say about a dense model beyond its layer sizes: the
// hidden activation and the loss, which also fixes the task (classes or a
// regression target) and the metrics reported for it.
//
//   [model]
//   kind = "mlp"
//   hidden = [64, 32]        # or layers = [64, 64, 32, 10]; 0 at either end: from the data
//   activation = "tanh"      # relu | tanh | sigmoid
//   loss = "logistic"        # softmax | logistic | mse
//
//   [train]
//   early_stopping = 5       # stop after 5 evaluations without a better validation loss
//   keep_best = true         # report (and checkpoint) the parameters of the best one

#include <set>
#include <string>

namespace troupe {

enum class activation_kind { relu, tanh, sigmoid };

/// softmax: cross-entropy over `classes` outputs; logistic: binary
/// cross-entropy on one output (labels 0/1); mse: squared error on one
/// output per regression target.
enum class loss_kind { softmax, logistic, mse };

/// "relu", "tanh", "sigmoid"; throws std::invalid_argument otherwise.
activation_kind parse_activation(const std::string& text);
std::string to_string(activation_kind a);
/// "softmax" (also "softmax_cross_entropy"), "logistic" ("binary_logistic"),
/// "mse" ("mean_squared_error"); throws std::invalid_argument otherwise.
loss_kind parse_loss(const std::string& text);
std::string to_string(loss_kind l);

/// True for losses whose targets are numbers rather than classes.
inline bool is_regression(loss_kind l) {
  return l == loss_kind::mse;
}

/// The output width a loss needs for `classes` classes (1 for logistic and mse).
int outputs_for(loss_kind l, int classes);

/// The keys the model description adds to [model] and to [train].
const std::set<std::string>& model_spec_keys();
const std::set<std::string>& validation_spec_keys();

}  // namespace troupe
