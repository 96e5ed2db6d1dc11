// deploy/kubernetes and deploy/Dockerfile, checked without a cluster: every manifest parses and
// has the fields its kind needs; the StatefulSets run as the "restricted" Pod Security Standard
// asks (non-root, no privilege escalation, every capability dropped, RuntimeDefault seccomp,
// read-only root filesystem), mount a volume per instance at their --db, probe /healthz and
// /readyz on a named port; Services select a workload and target one of its ports; a default
// NetworkPolicy denies what the others do not allow; the ConfigMap's vigil.yaml loads with
// Vigil's own config loader; the Dockerfile is multi-stage, Debian slim at run time, non-root.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "vigil/app/config.h"

namespace vigil {
namespace {

namespace fs = std::filesystem;

const fs::path kDir = fs::path(VIGIL_SOURCE_DIR) / "deploy" / "kubernetes";

struct Doc {
  std::string file;
  YAML::Node node;
  std::string kind() const { return node["kind"].as<std::string>(""); }
  std::string name() const { return node["metadata"]["name"].as<std::string>(""); }
};

std::vector<Doc> LoadAll() {
  std::vector<Doc> docs;
  for (const auto& e : fs::directory_iterator(kDir)) {
    if (e.path().extension() != ".yaml" || e.path().filename() == "kustomization.yaml") continue;
    for (const YAML::Node& n : YAML::LoadAllFromFile(e.path().string())) {
      if (n.IsNull()) continue;
      docs.push_back({e.path().filename().string(), n});
    }
  }
  return docs;
}

bool Subset(const YAML::Node& small, const YAML::Node& big) {
  if (!small.IsMap() || small.size() == 0) return false;
  for (const auto& kv : small) {
    const YAML::Node v = big[kv.first.as<std::string>()];
    if (!v || v.as<std::string>() != kv.second.as<std::string>()) return false;
  }
  return true;
}

TEST(DeployTest, KustomizationListsEveryManifest) {
  const YAML::Node k = YAML::LoadFile((kDir / "kustomization.yaml").string());
  std::set<std::string> listed;
  for (const YAML::Node& r : k["resources"]) listed.insert(r.as<std::string>());
  std::set<std::string> files;
  for (const auto& e : fs::directory_iterator(kDir)) {
    if (e.path().extension() == ".yaml" && e.path().filename() != "kustomization.yaml") {
      files.insert(e.path().filename().string());
    }
  }
  EXPECT_EQ(listed, files);
}

TEST(DeployTest, EveryManifestHasItsSchemaFields) {
  const std::vector<Doc> docs = LoadAll();
  ASSERT_GE(docs.size(), 8u);
  std::map<std::string, const Doc*> by_kind_name;
  for (const Doc& d : docs) {
    SCOPED_TRACE(d.file + " " + d.kind() + "/" + d.name());
    ASSERT_TRUE(d.node["apiVersion"]) << "apiVersion";
    ASSERT_FALSE(d.kind().empty()) << "kind";
    ASSERT_FALSE(d.name().empty()) << "metadata.name";
    if (d.kind() != "Namespace") {
      EXPECT_EQ(d.node["metadata"]["namespace"].as<std::string>(""), "vigil");
    }
    by_kind_name[d.kind() + "/" + d.name()] = &d;
  }
  // The namespace enforces the restricted Pod Security Standard.
  ASSERT_TRUE(by_kind_name.count("Namespace/vigil"));
  EXPECT_EQ(by_kind_name["Namespace/vigil"]
                ->node["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
                .as<std::string>(""),
            "restricted");

  std::vector<const Doc*> sets;
  for (const Doc& d : docs) {
    if (d.kind() == "StatefulSet") sets.push_back(&d);
  }
  ASSERT_EQ(sets.size(), 2u);  // the workers and the api role
  std::set<std::string> roles;
  for (const Doc* s : sets) {
    SCOPED_TRACE(s->name());
    const YAML::Node spec = s->node["spec"];
    EXPECT_EQ(s->node["apiVersion"].as<std::string>(), "apps/v1");
    EXPECT_TRUE(by_kind_name.count("Service/" + spec["serviceName"].as<std::string>("")))
        << "serviceName names no Service";
    const YAML::Node tmpl = spec["template"];
    EXPECT_TRUE(Subset(spec["selector"]["matchLabels"], tmpl["metadata"]["labels"]));
    const YAML::Node pod = tmpl["spec"];
    EXPECT_TRUE(pod["securityContext"]["runAsNonRoot"].as<bool>(false));
    EXPECT_NE(pod["securityContext"]["runAsUser"].as<int>(0), 0);
    EXPECT_EQ(pod["securityContext"]["seccompProfile"]["type"].as<std::string>(""),
              "RuntimeDefault");
    EXPECT_FALSE(pod["hostNetwork"].as<bool>(false));
    EXPECT_FALSE(pod["automountServiceAccountToken"].as<bool>(true));
    std::set<std::string> volumes;
    for (const YAML::Node& v : pod["volumes"]) {
      EXPECT_FALSE(v["hostPath"]) << "hostPath volumes are not allowed";
      volumes.insert(v["name"].as<std::string>());
      if (v["configMap"]) {
        EXPECT_TRUE(by_kind_name.count("ConfigMap/" + v["configMap"]["name"].as<std::string>()));
      }
    }
    std::set<std::string> claims;
    for (const YAML::Node& c : spec["volumeClaimTemplates"]) {
      claims.insert(c["metadata"]["name"].as<std::string>());
      EXPECT_TRUE(c["spec"]["resources"]["requests"]["storage"]) << "a size per instance";
    }
    ASSERT_FALSE(claims.empty()) << "a volume per instance for RocksDB";
    ASSERT_EQ(pod["containers"].size(), 1u);
    const YAML::Node c = pod["containers"][0];
    const YAML::Node sc = c["securityContext"];
    EXPECT_FALSE(sc["allowPrivilegeEscalation"].as<bool>(true));
    EXPECT_TRUE(sc["readOnlyRootFilesystem"].as<bool>(false));
    EXPECT_FALSE(sc["privileged"].as<bool>(false));
    bool drops_all = false;
    for (const YAML::Node& cap : sc["capabilities"]["drop"]) drops_all |= cap.as<std::string>() == "ALL";
    EXPECT_TRUE(drops_all);
    std::set<std::string> ports;
    for (const YAML::Node& p : c["ports"]) ports.insert(p["name"].as<std::string>(""));
    EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"].as<std::string>(""), "/healthz");
    EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"].as<std::string>(""), "/readyz");
    for (const char* probe : {"livenessProbe", "readinessProbe"}) {
      EXPECT_TRUE(ports.count(c[probe]["httpGet"]["port"].as<std::string>(""))) << probe;
    }
    // vigil serve --db <dir on the claim> --config <file of the ConfigMap>.
    std::vector<std::string> args;
    for (const YAML::Node& a : c["args"]) args.push_back(a.as<std::string>());
    ASSERT_FALSE(args.empty());
    EXPECT_EQ(args[0], "serve");
    auto arg = [&](const std::string& flag) {
      auto it = std::find(args.begin(), args.end(), flag);
      return it == args.end() || it + 1 == args.end() ? std::string() : *(it + 1);
    };
    roles.insert(arg("--role").empty() ? "worker" : arg("--role"));
    std::map<std::string, std::string> mounts;  // path -> volume
    for (const YAML::Node& m : c["volumeMounts"]) {
      const std::string name = m["name"].as<std::string>();
      EXPECT_TRUE(volumes.count(name) || claims.count(name)) << "mount of an unknown volume " << name;
      mounts[m["mountPath"].as<std::string>()] = name;
    }
    ASSERT_TRUE(mounts.count(arg("--db"))) << "--db is not on a mounted volume";
    EXPECT_TRUE(claims.count(mounts[arg("--db")])) << "--db is not the instance's own volume";
    EXPECT_TRUE(mounts.count(arg("--config"))) << "--config is not mounted";
  }
  EXPECT_EQ(roles, (std::set<std::string>{"worker", "api"}));

  // Services select a workload and target one of its named ports.
  for (const Doc& d : docs) {
    if (d.kind() != "Service") continue;
    SCOPED_TRACE(d.name());
    const Doc* target = nullptr;
    for (const Doc* s : sets) {
      if (Subset(d.node["spec"]["selector"], s->node["spec"]["template"]["metadata"]["labels"])) {
        target = s;
      }
    }
    ASSERT_NE(target, nullptr) << "selects no workload";
    std::set<std::string> ports;
    for (const YAML::Node& p : target->node["spec"]["template"]["spec"]["containers"][0]["ports"]) {
      ports.insert(p["name"].as<std::string>(""));
    }
    for (const YAML::Node& p : d.node["spec"]["ports"]) {
      EXPECT_TRUE(ports.count(p["targetPort"].as<std::string>(""))) << "targetPort";
    }
  }

  // A default deny for both directions; what is allowed is allowed explicitly.
  bool default_deny = false;
  for (const Doc& d : docs) {
    if (d.kind() != "NetworkPolicy") continue;
    SCOPED_TRACE(d.name());
    EXPECT_EQ(d.node["apiVersion"].as<std::string>(), "networking.k8s.io/v1");
    ASSERT_TRUE(d.node["spec"]["podSelector"].IsMap());
    std::set<std::string> types;
    for (const YAML::Node& t : d.node["spec"]["policyTypes"]) types.insert(t.as<std::string>());
    for (const std::string& t : types) EXPECT_TRUE(t == "Ingress" || t == "Egress") << t;
    if (d.node["spec"]["podSelector"].size() == 0 && types.size() == 2 &&
        !d.node["spec"]["ingress"] && !d.node["spec"]["egress"]) {
      default_deny = true;
    }
  }
  EXPECT_TRUE(default_deny);
}

TEST(DeployTest, TheConfigMapIsAVigilConfig) {
  const std::vector<Doc> docs = LoadAll();
  int found = 0;
  for (const Doc& d : docs) {
    if (d.kind() != "ConfigMap") continue;
    ++found;
    const std::string text = d.node["data"]["vigil.yaml"].as<std::string>("");
    ASSERT_FALSE(text.empty());
    const fs::path tmp = fs::temp_directory_path() / ("vigil-deploy-test-" + std::to_string(getpid()) + ".yaml");
    std::ofstream(tmp) << text;
    app::Config config;
    Status s = app::LoadConfigFile(tmp.string(), &config);
    fs::remove(tmp);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_TRUE(config.kafka.enabled());
    EXPECT_TRUE(config.kafka.changelog);
    EXPECT_FALSE(config.kafka.findings_topic.empty());
    EXPECT_TRUE(config.api_tls.enabled());
    EXPECT_FALSE(config.api_credentials.empty());
  }
  EXPECT_EQ(found, 1);
}

TEST(DeployTest, TheDockerfileIsMultiStageSlimAndNonRoot) {
  std::ifstream in(fs::path(VIGIL_SOURCE_DIR) / "deploy" / "Dockerfile");
  ASSERT_TRUE(in.good());
  std::vector<std::string> from, user;
  std::string entrypoint;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("FROM ", 0) == 0) from.push_back(line.substr(5));
    if (line.rfind("USER ", 0) == 0) user.push_back(line.substr(5));
    if (line.rfind("ENTRYPOINT ", 0) == 0) entrypoint = line;
    EXPECT_NE(line.rfind("ADD http", 0), 0u) << "no remote ADD: " << line;
  }
  ASSERT_GE(from.size(), 2u);
  EXPECT_EQ(from.back().substr(0, from.back().find(' ')), "debian:12-slim");
  ASSERT_FALSE(user.empty());
  const int uid = std::atoi(user.back().c_str());
  EXPECT_GT(uid, 0) << "a numeric non-root user (runAsNonRoot can check it)";
  EXPECT_NE(entrypoint.find("/usr/local/bin/vigil"), std::string::npos);
}

}  // namespace
}  // namespace vigil
