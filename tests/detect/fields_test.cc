// Tests for the field schema: canonical path parsing, transforms and classification.
#include "vigil/detect/fields.h"

#include <gtest/gtest.h>

namespace vigil::detect {
namespace {

FieldSpec Describe(std::string_view path) {
  auto r = DescribeField(path);
  EXPECT_TRUE(r.ok()) << path << ": " << r.status().ToString();
  return r.ok() ? r.value() : FieldSpec();
}

TEST(DescribeFieldTest, TopLevelStrings) {
  for (const char* p : {"verb", "stage", "level", "auditID", "requestURI", "userAgent", "cluster",
                        "user.username", "impersonatedUser.username", "objectRef.resource",
                        "objectRef.namespace", "objectRef.subresource", "objectRef.apiGroup",
                        "responseStatus.reason", "requestURI.path"}) {
    FieldSpec s = Describe(p);
    EXPECT_TRUE(s.known) << p;
    EXPECT_FALSE(s.multi) << p;
    EXPECT_EQ(s.type, FieldType::kString) << p;
    EXPECT_EQ(s.canonical, p);
  }
}

TEST(DescribeFieldTest, TypesAndMulti) {
  EXPECT_EQ(Describe("responseStatus.code").type, FieldType::kNumber);
  EXPECT_EQ(Describe("stageTimestamp").type, FieldType::kTimestamp);
  EXPECT_EQ(Describe("requestReceivedTimestamp").type, FieldType::kTimestamp);
  EXPECT_TRUE(Describe("user.groups").multi);
  EXPECT_TRUE(Describe("user.groups[*]").multi);
  EXPECT_FALSE(Describe("user.groups[0]").multi);
  EXPECT_TRUE(Describe("sourceIPs").multi);
  EXPECT_TRUE(Describe("impersonatedUser.groups").multi);
  EXPECT_TRUE(Describe("user.extra[\"iam.gke.io/user-assertion\"][*]").multi);
  EXPECT_TRUE(Describe("requestURI.query[\"command\"]").multi);
  FieldSpec body = Describe("requestObject.spec.containers[*].securityContext.privileged");
  EXPECT_TRUE(body.known);
  EXPECT_TRUE(body.multi);
  EXPECT_EQ(body.type, FieldType::kJson);
  ASSERT_EQ(body.steps.size(), 6u);
  EXPECT_EQ(body.steps[3].kind, PathStep::Kind::kAnyIndex);
  EXPECT_EQ(Describe("responseObject.metadata.name").type, FieldType::kJson);
}

TEST(DescribeFieldTest, QuotedKeysAndCanonicalForm) {
  FieldSpec a = Describe("annotations[\"authorization.k8s.io/decision\"]");
  EXPECT_TRUE(a.known);
  ASSERT_EQ(a.steps.size(), 2u);
  EXPECT_EQ(a.steps[1].key, "authorization.k8s.io/decision");
  EXPECT_EQ(a.canonical, "annotations[\"authorization.k8s.io/decision\"]");
  // Single quotes and a quoted simple key normalise.
  EXPECT_EQ(Describe("requestObject['spec'].containers[0]").canonical,
            "requestObject.spec.containers[0]");
  EXPECT_EQ(Describe("requestObject.spec.containers[2]").steps[3].index, 2u);
}

TEST(DescribeFieldTest, Transforms) {
  FieldSpec count = Describe("requestObject.spec.containers[*]|count");
  EXPECT_EQ(count.type, FieldType::kNumber);
  EXPECT_FALSE(count.multi);
  EXPECT_EQ(count.canonical, "requestObject.spec.containers[*]|count");
  EXPECT_EQ(Describe("requestObject.spec.containers[*].image|repository").type, FieldType::kJson);
  EXPECT_EQ(Describe("requestObject.spec|json").type, FieldType::kString);
  EXPECT_EQ(Describe("user.username|lower").type, FieldType::kString);
  // A '|' inside a quoted key is not a transform.
  EXPECT_TRUE(Describe("annotations[\"a|b\"]").known);
  EXPECT_FALSE(DescribeField("verb|upper").ok());
}

TEST(DescribeFieldTest, UnknownButWellFormed) {
  for (const char* p : {"hostPath", "capabilities", "apiGroup", "code", "objectRef.foo",
                        "user.groups.x", "responseStatus.code.x", "verb.x"}) {
    auto r = DescribeField(p);
    ASSERT_TRUE(r.ok()) << p;
    EXPECT_FALSE(r->known) << p;
  }
}

TEST(DescribeFieldTest, BrokenPaths) {
  for (const char* p : {"", "requestObject.spec[", "a..b", "a.", "requestObject[x]", "1abc",
                        "a[\"unterminated]", "a[*", "a[1"}) {
    EXPECT_FALSE(DescribeField(p).ok()) << p;
  }
}

}  // namespace
}  // namespace vigil::detect
