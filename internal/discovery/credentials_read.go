package discovery

import "bytes"

// CredentialsDir is where scripts leave credentials, one <service>.env per service; the
// config-manager layout (configmanager.CredentialsDir) takes it from here.
const CredentialsDir = "/etc/config-manager/credentials"

// SavedCredentialsDir is where the original system's save_credential writes, one
// <service>.env per service. Imported scripts still write there, so it is read beside
// CredentialsDir.
const SavedCredentialsDir = "/etc/infrahaus/credentials"

// ReadCredentialsCommand prints every credentials file of both directories, each as a NUL, its
// name, a NUL and its content, changing nothing. The controller runs it once a script has
// printed something, so the values a script saved are redacted from its output before the first
// discovery copies them.
const ReadCredentialsCommand = `for f in ` + CredentialsDir + `/*.env ` + SavedCredentialsDir + `/*.env; do ` +
	`[ -f "$f" ] || continue; printf '\000%s\000' "${f##*/}"; cat "$f"; done`

// ParseCredentialsDump reads the output of ReadCredentialsCommand.
func ParseCredentialsDump(out []byte) []CredentialsFile {
	parts := bytes.Split(out, []byte{0})
	var files []CredentialsFile
	// parts[0] is what came before the first file: nothing.
	for i := 1; i+1 < len(parts); i += 2 {
		files = append(files, ParseCredentialsFile(string(parts[i]), parts[i+1]))
	}
	return files
}

// Values lists the values of the files' variables.
func Values(files []CredentialsFile) []string {
	var values []string
	for _, f := range files {
		for _, v := range f.Vars {
			values = append(values, v.Value)
		}
	}
	return values
}
