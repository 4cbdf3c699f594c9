package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// What the notifier must not forget lives in the cluster, in ConfigMaps
// of the platform namespace that only the leader writes (each write
// conditional on the version it read): one per tool with news, and one of
// the notifier's own. `kubectl get configmaps -n toolforge-system -l
// app.kubernetes.io/managed-by=toolforge-notifier` shows them.
const (
	managedBy = "toolforge-notifier"
	// SettingsConfigMap holds since: when the first notifier started.
	// Runs that ended before are not told of (nor were they, before).
	SettingsConfigMap = "toolforge-notifier"
	stateKey          = "state"
	sinceKey          = "since"
	statePrefix       = "toolforge-notify-"
)

// StateConfigMap is the ConfigMap of tool's pending notifications.
func StateConfigMap(tool string) string { return statePrefix + tool }

// queued is one event of a job waiting to be mailed.
type queued struct {
	Job    string `json:"job"`
	Type   string `json:"type"`
	Emails string `json:"emails"`
	Event  event  `json:"event"`
}

// sending is a message being handed to the SMTP server: recorded before
// it is sent, cleared once the server took it (or refused it). Found set
// at start, it is what a predecessor may or may not have sent: the same
// events go again under the same Message-ID.
type sending struct {
	MessageID string    `json:"messageID"`
	Events    int       `json:"events"`
	Since     time.Time `json:"since"`
}

// toolState is a tool's pending notifications.
type toolState struct {
	// Pending events, oldest first.
	Pending []queued `json:"pending,omitempty"`
	// Seen are the keys of the events of the tool's existing pods that
	// were queued already (a pod's status is written again and again).
	Seen    []string `json:"seen,omitempty"`
	Sending *sending `json:"sending,omitempty"`
	// Dropped counts events not kept (beyond maxPending), told of in the
	// next message.
	Dropped int `json:"dropped,omitempty"`
	// Failures in a row, and when the next attempt is due.
	Failures int       `json:"failures,omitempty"`
	Next     time.Time `json:"next,omitzero"`
}

// A tool's ConfigMap must stay well below the API server's 1 MiB: at most
// maxPending events wait (the oldest go first, and are counted), each
// message cut to maxMessage bytes.
const (
	maxPending = 500
	maxMessage = 1024
)

func (s *toolState) empty() bool {
	return len(s.Pending) == 0 && len(s.Seen) == 0 && s.Sending == nil && s.Failures == 0 && s.Dropped == 0
}

// queue adds q, keeping the bounds.
func (s *toolState) queue(q queued) {
	if len(q.Event.Message) > maxMessage {
		q.Event.Message = q.Event.Message[:maxMessage] + "…"
	}
	s.Pending = append(s.Pending, q)
	sendingNow := 0
	if s.Sending != nil {
		sendingNow = s.Sending.Events
	}
	// What is being sent stays as it is.
	for len(s.Pending) > maxPending && len(s.Pending) > sendingNow {
		s.Pending = append(s.Pending[:sendingNow], s.Pending[sendingNow+1:]...)
		s.Dropped++
	}
}

func (s *toolState) seen(key string) bool {
	for _, k := range s.Seen {
		if k == key {
			return true
		}
	}
	return false
}

// stored is a tool's state and the version of its ConfigMap (empty when
// there is none yet).
type stored struct {
	state   toolState
	version string
	dirty   bool
}

// stateStore reads and writes the ConfigMaps.
type stateStore struct {
	kube kubernetes.Interface
	ns   string
}

func stateLabels(tool string) map[string]string {
	return map[string]string{tenancy.LabelManagedBy: managedBy, tenancy.LabelTool: tool}
}

// since reads (or, on the first start, records) when notifications
// started.
func (s *stateStore) since(ctx context.Context, now time.Time) (time.Time, error) {
	cms := s.kube.CoreV1().ConfigMaps(s.ns)
	cm, err := cms.Get(ctx, SettingsConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cm = &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: SettingsConfigMap, Namespace: s.ns, Labels: map[string]string{tenancy.LabelManagedBy: managedBy}},
			Data:       map[string]string{sinceKey: now.UTC().Format(time.RFC3339)},
		}
		if cm, err = cms.Create(ctx, cm, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
			cm, err = cms.Get(ctx, SettingsConfigMap, metav1.GetOptions{})
		}
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read ConfigMap %s/%s: %w", s.ns, SettingsConfigMap, err)
	}
	t, err := time.Parse(time.RFC3339, cm.Data[sinceKey])
	if err != nil {
		return time.Time{}, fmt.Errorf("ConfigMap %s/%s: %s %q: %w", s.ns, SettingsConfigMap, sinceKey, cm.Data[sinceKey], err)
	}
	return t, nil
}

// load reads every tool's state.
func (s *stateStore) load(ctx context.Context) (map[string]*stored, error) {
	list, err := s.kube.CoreV1().ConfigMaps(s.ns).List(ctx, metav1.ListOptions{LabelSelector: tenancy.LabelManagedBy + "=" + managedBy + "," + tenancy.LabelTool})
	if err != nil {
		return nil, fmt.Errorf("read pending notifications: %w", err)
	}
	out := map[string]*stored{}
	for _, cm := range list.Items {
		tool := cm.Labels[tenancy.LabelTool]
		st := &stored{version: cm.ResourceVersion}
		if err := json.Unmarshal([]byte(cm.Data[stateKey]), &st.state); err != nil {
			return nil, fmt.Errorf("ConfigMap %s/%s: %w", s.ns, cm.Name, err)
		}
		out[tool] = st
	}
	return out, nil
}

// save writes tool's state if the ConfigMap is still at the version read
// (a conflict means another process wrote: the caller reloads), or
// deletes it when there is nothing left to keep.
func (s *stateStore) save(ctx context.Context, tool string, st *stored) error {
	cms := s.kube.CoreV1().ConfigMaps(s.ns)
	name := StateConfigMap(tool)
	if st.state.empty() {
		if st.version == "" {
			return nil
		}
		err := cms.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &st.version}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete ConfigMap %s/%s: %w", s.ns, name, err)
		}
		st.version = ""
		return nil
	}
	data, err := json.Marshal(&st.state)
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns, Labels: stateLabels(tool), ResourceVersion: st.version},
		Data:       map[string]string{stateKey: string(data)},
	}
	if st.version == "" {
		cm, err = cms.Create(ctx, cm, metav1.CreateOptions{})
	} else {
		cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("write ConfigMap %s/%s: %w", s.ns, name, err)
	}
	st.version = cm.ResourceVersion
	return nil
}

// reload reads tool's state again after a conflict.
func (s *stateStore) reload(ctx context.Context, tool string) (*stored, error) {
	cm, err := s.kube.CoreV1().ConfigMaps(s.ns).Get(ctx, StateConfigMap(tool), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return &stored{}, nil
	}
	if err != nil {
		return nil, err
	}
	st := &stored{version: cm.ResourceVersion}
	if err := json.Unmarshal([]byte(cm.Data[stateKey]), &st.state); err != nil {
		return nil, fmt.Errorf("ConfigMap %s/%s: %w", s.ns, cm.Name, err)
	}
	return st, nil
}
