package v1alpha1_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"templatemanager.dev/lxc-template-manager/internal/configmanager"
	"templatemanager.dev/lxc-template-manager/internal/testenv"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// The package name rules live in internal/configmanager, which renders the install scripts by
// them; the CRDs repeat them as CEL rules. The tests below hold the two together.

// packageLists are the lists of package names in the CRDs, each checked by one CEL rule per manager.
var packageLists = []string{
	"packagebuckets spec.packages",
	"lxctemplates spec.packages[].names",
	"lxccontainers spec.packages.extra[].names",
}

// packageRule is one CEL rule on a list of package names, with what the CRD says of the list's items.
type packageRule struct {
	crd, path, manager, field, pattern, message, fieldPath string
	itemMaxLength                                          *int64
	itemPattern                                            string
}

var celPackageRule = regexp.MustCompile(`^self\.manager != '(\w+)' \|\| self\.(\w+)\.all\(n, n\.matches\('(.*)'\)\)$`)

// packageRules finds the per-manager rules on package names in the CRDs of config/crd/bases,
// which are the ones the tests' control plane serves.
func packageRules(t *testing.T) []packageRule {
	t.Helper()
	var rules []packageRule
	var walk func(crd, path string, s *apiextensionsv1.JSONSchemaProps)
	walk = func(crd, path string, s *apiextensionsv1.JSONSchemaProps) {
		for _, v := range s.XValidations {
			m := celPackageRule.FindStringSubmatch(v.Rule)
			if m == nil {
				if strings.Contains(v.Rule, "self.manager") {
					t.Errorf("%s %s: a rule on package names not in the form self.manager != 'M' || self.LIST.all(n, n.matches('PATTERN')): %s", crd, path, v.Rule)
				}
				continue
			}
			r := packageRule{crd: crd, path: path, manager: m[1], field: m[2], pattern: m[3], message: v.Message, fieldPath: v.FieldPath}
			if list, ok := s.Properties[r.field]; ok && list.Items != nil && list.Items.Schema != nil {
				r.itemMaxLength = list.Items.Schema.MaxLength
				r.itemPattern = list.Items.Schema.Pattern
			}
			rules = append(rules, r)
		}
		for name, p := range s.Properties {
			walk(crd, strings.TrimPrefix(path+"."+name, "."), &p)
		}
		if s.Items != nil && s.Items.Schema != nil {
			walk(crd, path+"[]", s.Items.Schema)
		}
	}
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs found: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(data, &crd); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, v := range crd.Spec.Versions {
			if v.Schema != nil && v.Schema.OpenAPIV3Schema != nil {
				walk(crd.Spec.Names.Plural, "", v.Schema.OpenAPIV3Schema)
			}
		}
	}
	return rules
}

// TestPackageNameRulesAreTheInstallScripts checks that every CEL rule on package names quotes
// the pattern and message of the rule the install scripts are rendered by, so admission and
// rendering accept the same names; and that the item pattern and length limit of every list
// admit all of those names.
func TestPackageNameRulesAreTheInstallScripts(t *testing.T) {
	found := map[string][]string{}
	itemPatterns := map[string]bool{}
	for _, r := range packageRules(t) {
		list := r.crd + " " + r.path + "." + r.field
		found[list] = append(found[list], r.manager)
		want, ok := configmanager.PackageNameRuleFor(configmanager.PackageManager(r.manager))
		if !ok {
			t.Errorf("%s: a rule for unknown manager %q", list, r.manager)
			continue
		}
		if r.pattern != want.Pattern {
			t.Errorf("%s: the %s pattern is\n\t%s\nbut the install scripts are rendered by\n\t%s", list, r.manager, r.pattern, want.Pattern)
		}
		if r.message != want.Message {
			t.Errorf("%s: the %s message is %q, the install scripts' %q", list, r.manager, r.message, want.Message)
		}
		if r.fieldPath != "."+r.field {
			t.Errorf("%s: the %s rule reports the field %q", list, r.manager, r.fieldPath)
		}
		if r.itemMaxLength == nil || *r.itemMaxLength != configmanager.MaxPackageNameLength {
			t.Errorf("%s: items have maxLength %v, want %d", list, r.itemMaxLength, configmanager.MaxPackageNameLength)
		}
		itemPatterns[r.itemPattern] = true
	}
	var lists []string
	for list, managers := range found {
		lists = append(lists, list)
		slices.Sort(managers)
		if want := []string{"apk", "apt", "dnf", "npm", "pip"}; !slices.Equal(managers, want) {
			t.Errorf("%s: rules for %v, want one each for %v", list, managers, want)
		}
	}
	slices.Sort(lists)
	want := slices.Clone(packageLists)
	slices.Sort(want)
	if !slices.Equal(lists, want) {
		t.Errorf("package name rules on %q, want %q", lists, want)
	}

	// The item pattern is looser than each manager's rule (it only keeps shell syntax out, with
	// the field path in its message); it must not refuse a name one of the rules admits.
	if len(itemPatterns) != 1 {
		t.Fatalf("the lists' items have %d different patterns, want one (PackageName's)", len(itemPatterns))
	}
	var item *regexp.Regexp
	for p := range itemPatterns {
		item = regexp.MustCompile(p)
	}
	rnd := rand.New(rand.NewSource(1))
	for _, m := range configmanager.PackageManagers {
		rule, _ := configmanager.PackageNameRuleFor(m)
		re, err := syntax.Parse(rule.Pattern, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		full := regexp.MustCompile(rule.Pattern)
		refused := 0
		for range 20000 {
			var b strings.Builder
			sample(rnd, re, &b)
			name := b.String()
			if !full.MatchString(name) {
				t.Fatalf("%s: the sample %q does not match its own pattern", m, name)
			}
			if len(name) <= configmanager.MaxPackageNameLength && !item.MatchString(name) && refused < 5 {
				refused++
				t.Errorf("%s admits %q, the PackageName pattern refuses it", m, name)
			}
		}
	}
}

// sample appends to b a random string that re matches, with short repetitions so that most
// samples fit the length limit.
func sample(rnd *rand.Rand, re *syntax.Regexp, b *strings.Builder) {
	switch re.Op {
	case syntax.OpLiteral:
		b.WriteString(string(re.Rune))
	case syntax.OpCharClass:
		// Ranges come in pairs; pick a range, then a rune in it.
		i := 2 * rnd.Intn(len(re.Rune)/2)
		lo, hi := re.Rune[i], re.Rune[i+1]
		b.WriteRune(lo + rune(rnd.Intn(int(hi-lo)+1)))
	case syntax.OpConcat, syntax.OpCapture:
		for _, s := range re.Sub {
			sample(rnd, s, b)
		}
	case syntax.OpAlternate:
		sample(rnd, re.Sub[rnd.Intn(len(re.Sub))], b)
	case syntax.OpQuest:
		if rnd.Intn(2) == 0 {
			sample(rnd, re.Sub[0], b)
		}
	case syntax.OpStar, syntax.OpPlus, syntax.OpRepeat:
		lo, hi := re.Min, re.Max
		switch re.Op {
		case syntax.OpStar:
			lo, hi = 0, 8
		case syntax.OpPlus:
			lo, hi = 1, 8
		}
		if hi < 0 {
			hi = lo + 8
		}
		// Mostly short, sometimes the longest the pattern allows.
		n := lo + rnd.Intn(min(hi-lo, 8)+1)
		if rnd.Intn(10) == 0 {
			n = hi
		}
		for range n {
			sample(rnd, re.Sub[0], b)
		}
	case syntax.OpBeginText, syntax.OpEndText, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpEmptyMatch:
	default:
		panic(fmt.Sprintf("sample: regexp op %v", re.Op))
	}
}

// TestPackageNamesAgreeWithTheInstallScripts sends each name of the table, under each manager,
// to the API server in a PackageBucket, an LXCTemplate and an LXCContainer, and checks that
// the server admits exactly the names the install scripts are rendered with.
func TestPackageNamesAgreeWithTheInstallScripts(t *testing.T) {
	testkit.SkipUnlessFull(t, testkit.ControlPlane)
	if env == nil {
		// SkipUnlessFull skipped under -short; a full run without a control plane is a failure.
		t.Fatal("the control plane did not start")
	}
	const (
		all  = "apt apk dnf pip npm"
		none = ""
	)
	cases := []struct {
		name string
		// managers whose rule admits the name.
		managers string
	}{
		// apt
		{"nginx", all},
		{"g++", "apt apk dnf"},
		{"python3.11", all},
		{"0ad", all},
		{"libc6:amd64", "apt dnf"},
		{"curl=7.88.1-10+deb12u5", "apt apk"},
		{"openssh-server=1:9.2p1-2", "apt"},
		{"lib32z1:i386=1:1.2.13", "apt"},
		{"nodejs=24.*", "apt"},
		{"nginx/bookworm-backports", "apt"},
		{"libc6:" + strings.Repeat("a", 32), "apt dnf"},
		{"libc6:" + strings.Repeat("a", 33), "dnf"},
		{"nginx/" + strings.Repeat("b", 64), "apt"},
		{"nginx/" + strings.Repeat("b", 65), none},
		{"a", "apk dnf pip npm"}, // a Debian name has two characters or more
		{"a=1.0", "apk"},
		{"node*", "dnf"},
		{"Curl", "apk dnf pip"},
		// apk
		{"py3-pip", all},
		{"busybox=1.36.1-r2", "apt apk"},
		{"curl~8", "apk dnf npm"},
		{"openssl>=3.1", "apk pip"},
		{"gcc<13", "apk pip"},
		{"curl>", none},
		// dnf
		{"nginx-1:1.20.1-14.el9.x86_64", "dnf"},
		{"gcc-c++", "apt apk dnf"},
		{"nodejs-24.*", "dnf"},
		{"NetworkManager", "apk dnf pip"},
		{"perl_Test", "apk dnf pip"},
		{"@development-tools", none},
		// pip
		{"Django==4.2.7", "pip"},
		{"uvicorn[standard]", "pip"},
		{"requests[socks]==2.31", "pip"},
		{"black[d,jupyter]>=23.1", "pip"},
		{"zope.interface~=6.0", "pip"},
		{"requests>=2.31,<3", "pip"},
		{"pip===23.3.1", "pip"},
		{"pkg!=1.0", "pip"},
		{"torch==2.1.0+cpu", "pip"},
		{"pkg==1!2.0", "pip"},
		{"requests@2.0", "npm"},
		{"pkg[,]", none},
		// npm
		{"@types/node", "npm"},
		{"@angular/cli@17.0.0", "npm"},
		{"typescript@^5.2", "npm"},
		{"@scope/tool@~1.2.3", "npm"},
		{"left-pad@>=1.0.0", "npm"},
		{"pm2@latest", "npm"},
		{"x@*", "npm"},
		{"LeftPad", "apk dnf pip"},
		// lengths
		{strings.Repeat("a", 101), all},
		{strings.Repeat("a", 102), "apt apk dnf pip"},
		{strings.Repeat("a", 128), "apt apk dnf pip"},
		{strings.Repeat("a", 129), none},
		{strings.Repeat("a", 127) + "=1", none},
		{strings.Repeat("d", 192), none},
		{"@" + strings.Repeat("s", 60) + "/" + strings.Repeat("n", 70), none},
		// shell syntax
		{"a;rm -rf /", none},
		{"$(x)", none},
		{"${x}", none},
		{"`id`", none},
		{"nginx curl", none},
		{" nginx", none},
		{"nginx ", none},
		{"nginx\nid", none},
		{"nginx\tid", none},
		{"nginx'", none},
		{`nginx"`, none},
		{`nginx\`, none},
		{"nginx|id", none},
		{"nginx&&id", none},
		{"nginx>out", none},
		{"(x)", none},
		{"-y", none},
		{"--allow-unauthenticated", none},
		{"nginx=1.*;id", none},
		{"nginx=$(id)", none},
		{"nginx/../x", none},
		{"tool@^1.2;id", none},
		{"x@$(id)", none},
		{"requests>=2, <3", none},
		{"requests>/etc/passwd", none},
		{"n\u00e4me", none},
	}

	ctx := context.Background()
	objects := map[string]func(manager, name string) *unstructured.Unstructured{
		"PackageBucket": func(manager, name string) *unstructured.Unstructured {
			return object("PackageBucket", map[string]any{"manager": manager, "packages": []any{name}})
		},
		"LXCTemplate": func(manager, name string) *unstructured.Unstructured {
			return object("LXCTemplate", map[string]any{
				"osTemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
				"packages":   []any{map[string]any{"manager": manager, "names": []any{name}}},
			})
		},
		"LXCContainer": func(manager, name string) *unstructured.Unstructured {
			return object("LXCContainer", map[string]any{
				"clusterRef":  map[string]any{"name": "pve"},
				"templateRef": map[string]any{"name": "web"},
				"packages":    map[string]any{"extra": []any{map[string]any{"manager": manager, "names": []any{name}}}},
			})
		},
	}
	for _, tc := range cases {
		t.Run(shortName(tc.name), func(t *testing.T) {
			t.Parallel()
			want := strings.Fields(tc.managers)
			for _, m := range configmanager.PackageManagers {
				rendered := configmanager.ValidatePackageName(m, tc.name)
				if (rendered == nil) != slices.Contains(want, string(m)) {
					t.Errorf("%s: the install script accepts=%v, the table says %v (%v)", m, rendered == nil, slices.Contains(want, string(m)), rendered)
				}
				for kind, obj := range objects {
					err := env.Client.Create(ctx, obj(string(m), tc.name), client.DryRunAll)
					if err != nil && !apierrors.IsInvalid(err) {
						t.Fatalf("%s %s: %v", m, kind, err)
					}
					if (err == nil) != (rendered == nil) {
						t.Errorf("%s %s: the API server accepts=%v, the install script accepts=%v\n\tserver: %v\n\tscript: %v", m, kind, err == nil, rendered == nil, err, rendered)
					}
				}
			}
		})
	}
}

// shortName names a subtest after a package name that may be long.
func shortName(name string) string {
	if len(name) > 40 {
		return fmt.Sprintf("%.20q…%d_chars", name, len(name))
	}
	return fmt.Sprintf("%q", name)
}

// object is a namespaced object of kind with spec.
func object(kind string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "lxc.templatemanager.dev/v1alpha1",
		"kind":       kind,
		"metadata":   map[string]any{"name": "names", "namespace": "default"},
		"spec":       spec,
	}}
}
