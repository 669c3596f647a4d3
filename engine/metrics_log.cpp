#include "engine/metrics_log.hpp"

#include "engine/errors.hpp"

namespace troupe {

const char* metrics_log::header() {
  return "time_s,epoch,worker,clock,kind,loss,accuracy,samples_per_s,wait_s,compute_s,pull_s,push_"
         "s";
}

metrics_log::metrics_log(const std::string& path, bool append)
    : path_(path), out_(path, append ? std::ios::app : std::ios::trunc) {
  if (!out_) throw troupe_error(errc::io_error, "cannot write metrics file " + path);
  if (!append || out_.tellp() == 0) out_ << header() << '\n';
}

void metrics_log::append(const metrics_row& r) {
  out_ << r.time_s << ',' << r.epoch << ',' << r.worker << ',' << r.clock << ',' << r.kind << ','
       << r.loss << ',' << r.accuracy << ',' << r.samples_per_s << ',' << r.wait_s << ','
       << r.compute_s << ',' << r.pull_s << ',' << r.push_s << '\n';
  // Flushed per row: a run that is killed still leaves its curve behind.
  out_.flush();
}

}  // namespace troupe
