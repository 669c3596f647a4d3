#include "tools/cert_command.hpp"

#include <spdlog/spdlog.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "engine/errors.hpp"
#include "tools/certificates.hpp"

namespace troupe::cli {

namespace {

struct cert_options {
  std::string dir = "pki";
  std::string name;
  std::string ca_name = "troupe cluster CA";
  std::vector<std::string> hosts;
  int days = 825;
  int ca_days = 3650;
};

}  // namespace

std::function<int()> add_cert_command(CLI::App& app) {
  auto o = std::make_shared<cert_options>();
  auto* cmd = app.add_subcommand(
      "cert",
      "Make the TLS certificates of a cluster: a CA, then one certificate per node daemon and "
      "per client, signed by it (ECDSA P-256; keys written with mode 0600, nothing overwritten).");
  cmd->require_subcommand(1);
  auto* ca = cmd->add_subcommand("ca", "create the cluster CA: DIR/ca.crt and DIR/ca.key");
  ca->add_option("--dir", o->dir, "directory of the certificates (default pki)");
  ca->add_option("--name", o->ca_name, "the CA's common name");
  ca->add_option("--days", o->ca_days, "validity in days (default 3650)");
  auto* node = cmd->add_subcommand(
      "node", "a node daemon's certificate DIR/NAME.crt (server and client use), signed by DIR/ca");
  auto* client = cmd->add_subcommand(
      "client", "a client's certificate DIR/NAME.crt (troupe train, status, client::connect)");
  for (auto* sub : {node, client}) {
    sub->add_option("name", o->name, "certificate name (file stem and common name)")->required();
    sub->add_option("--dir", o->dir, "directory holding ca.crt and ca.key (default pki)");
    sub->add_option("--days", o->days, "validity in days (default 825)");
  }
  node->add_option("--host", o->hosts,
                   "address or DNS name of the node, recorded in subjectAltName (repeatable)");
  return [cmd, ca, node, o]() -> int {
    if (!cmd->parsed()) return -1;
    try {
      if (ca->parsed()) {
        make_ca(o->dir, o->ca_name, o->ca_days);
        std::cout << "wrote " << o->dir << "/ca.crt and " << o->dir
                  << "/ca.key (keep the key off the nodes)" << std::endl;
      } else {
        const auto role = node->parsed() ? cert_role::node : cert_role::client;
        make_certificate(o->dir, o->name, role, o->days, o->hosts);
        std::cout << "wrote " << o->dir << "/" << o->name << ".crt and " << o->dir << "/" << o->name
                  << ".key" << std::endl;
      }
      return 0;
    } catch (const troupe_error& e) {
      spdlog::error("{}: {}", to_string(e.code()), e.what());
      return 2;
    }
  };
}

}  // namespace troupe::cli
