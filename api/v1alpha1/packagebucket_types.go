package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PackageBucketSpec is a reusable list of packages.
// +kubebuilder:validation:XValidation:rule="self.manager != 'apt' || self.packages.all(n, n.matches('^[a-z0-9][a-z0-9+.-]{1,127}(:[a-z0-9-]{1,32})?(=[A-Za-z0-9.+~:*-]{1,128}|/[a-z0-9][a-z0-9.-]{0,63})?$'))",message="apt package names are lowercase Debian names of two or more characters with an optional :arch, then an optional =version (globs such as =24.* allowed) or /release",fieldPath=".packages"
// +kubebuilder:validation:XValidation:rule="self.manager != 'apk' || self.packages.all(n, n.matches('^[A-Za-z0-9][A-Za-z0-9+._-]{0,127}((=|~|>=|<=|>|<)[0-9][A-Za-z0-9.+_~-]{0,63})?$'))",message="apk package names are name[=|~|>=|<=|>|<version]",fieldPath=".packages"
// +kubebuilder:validation:XValidation:rule="self.manager != 'dnf' || self.packages.all(n, n.matches('^[A-Za-z0-9_][A-Za-z0-9+._:~*-]{0,127}$'))",message="dnf package names are name[-version[-release]][.arch]",fieldPath=".packages"
// +kubebuilder:validation:XValidation:rule="self.manager != 'pip' || self.packages.all(n, n.matches('^[A-Za-z0-9]([A-Za-z0-9._-]{0,126}[A-Za-z0-9])?([[][A-Za-z0-9._-]{1,64}(,[A-Za-z0-9._-]{1,64}){0,15}[]])?((==|===|!=|~=|>=|<=|>|<)[0-9][A-Za-z0-9.*+!_-]{0,63}(,(==|===|!=|~=|>=|<=|>|<)[0-9][A-Za-z0-9.*+!_-]{0,63}){0,7})?$'))",message="pip package names are name[extras][==|~=|>=|<=|!=|>|<version[,specifier…]]",fieldPath=".packages"
// +kubebuilder:validation:XValidation:rule="self.manager != 'npm' || self.packages.all(n, n.matches('^(@[a-z0-9][a-z0-9._~-]{0,100}/)?[a-z0-9][a-z0-9._~-]{0,100}(@([a-z][a-z0-9._-]{0,63}|([~^]|>=|<=|>|<)?[0-9][A-Za-z0-9.+-]{0,63}|[*]))?$'))",message="npm package names are [@scope/]name[@version]",fieldPath=".packages"
type PackageBucketSpec struct {
	// description says what the packages are for.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// manager installs the packages: apt, apk, dnf, pip or npm.
	// +required
	Manager PackageManager `json:"manager"`

	// packages are the package names, each with an optional version pin.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=256
	// +listType=set
	Packages []PackageName `json:"packages"`
}

// PackageBucketStatus reports the bucket's use.
type PackageBucketStatus struct {
	// conditions: Ready says the bucket is valid and counted.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// packageCount is the number of packages in the bucket.
	// +optional
	PackageCount int32 `json:"packageCount,omitempty"`

	// usedBy is the number of LXCTemplates in the namespace that reference the bucket.
	// +optional
	UsedBy int32 `json:"usedBy,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pkgb,categories=lxctm
// +kubebuilder:printcolumn:name="Manager",type=string,JSONPath=`.spec.manager`
// +kubebuilder:printcolumn:name="Packages",type=integer,JSONPath=`.status.packageCount`
// +kubebuilder:printcolumn:name="Used By",type=integer,JSONPath=`.status.usedBy`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// PackageBucket is a reusable list of packages that LXCTemplates reference.
type PackageBucket struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec lists the packages.
	// +required
	Spec PackageBucketSpec `json:"spec"`

	// status reports the bucket's use.
	// +optional
	// +kubebuilder:default:={"observedGeneration":-1}
	Status PackageBucketStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions.
func (in *PackageBucket) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *PackageBucket) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// +kubebuilder:object:root=true

// PackageBucketList is a list of PackageBuckets.
type PackageBucketList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PackageBucket `json:"items"`
}

func init() {
	SchemeBuilder.Register(&PackageBucket{}, &PackageBucketList{})
}
